"""Post-incident reviews, action items and drills."""
