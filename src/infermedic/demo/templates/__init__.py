"""Templates of the demo services: the files `write_scenario` copies into a scenario repo."""
