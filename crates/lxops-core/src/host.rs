//! The host side: filesystems (ZFS datasets, plain directories, btrfs subvolumes) and device
//! directories, created with or without `sudo`.
