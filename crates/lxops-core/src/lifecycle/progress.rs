//! Where lifecycle steps report what they do: one line per step, for the CLI's stdout (or a
//! per-instance buffer when many instances run at once).

/// Receives one line per step.
pub trait Progress: Send {
    /// Reports a step.
    fn step(&mut self, line: &str);
}

impl Progress for Vec<String> {
    fn step(&mut self, line: &str) {
        self.push(line.to_string());
    }
}

impl Progress for Vec<u8> {
    fn step(&mut self, line: &str) {
        self.extend_from_slice(line.as_bytes());
        self.push(b'\n');
    }
}
