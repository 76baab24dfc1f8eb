#!/bin/bash
# Run Batch Container: OnDemand forks this file in the background. The job itself is
# tre-job.sh, rendered into this directory by tre-job from submit.yml.erb. exec, so that the
# signals the app's script_wrapper forwards (USR1 before the time limit, TERM on cancel)
# reach tre-job.sh's own bash, whose trap cleans up.
exec "${BASH_SOURCE[0]%/*}/tre-job.sh"
