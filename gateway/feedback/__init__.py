"""Stage 4, feedback: SES events by SNS (verified), the suppression list, the reputation guard and
the alerts they raise."""
