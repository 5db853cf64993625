"""The M3 vision side: preprocessing of images and video frames, the tower, prompt assembly."""
