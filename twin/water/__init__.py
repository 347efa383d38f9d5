"""The water twin: WNTR network, EPANET hydraulics, DMAs and (later) balance and leaks."""
