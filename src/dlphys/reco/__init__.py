"""Classical (non-ML) reconstruction baselines that the networks are compared with."""
