"""Design optimisation: design spaces, objectives, multi-objective search (to be filled)."""
