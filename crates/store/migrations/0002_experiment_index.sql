-- `routewise report` and `replay --experiment` read one experiment's records over a time range.
CREATE INDEX decisions_experiment ON decisions (experiment, created_ms);
