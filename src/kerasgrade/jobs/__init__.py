"""Below execute and measure: how a job (a student kernel or a measurement) is run, with its
options and limits, in a cold sandbox or forked from a warm zygote."""
