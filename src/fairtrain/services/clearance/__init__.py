"""Dataset clearance: run a training dataset through signed registry snapshots, locally, shard by shard."""
