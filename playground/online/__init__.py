"""Learning from a robot while it runs: transitions stream in from the robot's streamer
(`playground.serve.transitions`), improved policies go back to its policy server."""
