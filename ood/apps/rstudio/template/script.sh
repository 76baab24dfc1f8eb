#!/bin/bash
# RStudio Server: OnDemand forks this file in the background. The job is tre-job.sh, rendered into
# this directory by tre-job from submit.yml.erb; exec, so that the signals the app's
# script_wrapper forwards reach tre-job.sh's own trap, which cleans up.
exec "${BASH_SOURCE[0]%/*}/tre-job.sh"
