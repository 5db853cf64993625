"""The MiniMax-M3 model runtime (MSA.md §7): configuration, checkpoints, and (to come) the model."""
