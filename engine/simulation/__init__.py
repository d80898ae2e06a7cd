"""The demo campaign and the simulated year: opening a campaign, simulated officers, the day-by-day driver."""
