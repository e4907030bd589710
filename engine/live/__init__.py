"""Live reconfiguration: watch the files, rebuild the snapshot, swap it, keep the last good one."""
