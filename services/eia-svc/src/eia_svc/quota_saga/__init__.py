"""The filing's side of the quota saga (总量指标): asking quota-svc for a
reservation and following its replies, through events only."""
