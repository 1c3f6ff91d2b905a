//! Planning: from a merged config for one instance to the exact steps a command will take.
