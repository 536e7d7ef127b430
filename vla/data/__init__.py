"""LIBERO data: LeRobotDataset recording and loading, action chunks, normalization statistics."""
