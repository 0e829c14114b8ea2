"""(issue 20: being written) The local coupons' jobs."""

JOBS: tuple = ()
