# Shared by the tre-job Open OnDemand apps' form.yml.erb and submit.yml.erb (ood/apps/batch_container, jupyter, rstudio).
# The apps load it from the tre-job install that TRE_JOB_BIN points to
# (/opt/tre-job/bin/tre-job -> /opt/tre-job/ood/lib/tre_job_ood.rb), so a site installs it once,
# with tre-job, and the apps copied to /var/www/ood/apps/sys/ need no file outside themselves.
#
# TreJobOod.render runs `tre-job ood`: form values as JSON in argv,
# the registry token on stdin only (and blanked in place in the form, so OnDemand's context
# files hold ""), the job written into the session's staged root (tre-job.sh, credentials, and
# job.json, tre-job's job record, which the job cards and `tre-job status` read). A bad value
# raises tre-job's one line, which OnDemand shows, before anything is staged or submitted.
require 'json'
require 'open3'

module TreJobOod
  NAME = /\A[A-Za-z0-9][A-Za-z0-9_.-]*\z/

  # The batch shell's signal forwarding (see ood/README.md "Signals"), for batch_connect.script_wrapper.
  # Ruby fills in %s with OnDemand's script, so this text holds no other percent sign.
  SCRIPT_WRAPPER = <<~'BASH'
    tre_ood_forward() {
      local status=$2
      if [[ -n ${SCRIPT_PID-} ]] && kill -s "$1" "$SCRIPT_PID" 2>/dev/null; then
        while :; do
          wait "$SCRIPT_PID"
          status=$?
          kill -0 "$SCRIPT_PID" 2>/dev/null || break
        done
        clean_up "$status"
      fi
      exit "$status"
    }
    trap 'tre_ood_forward USR1 124' USR1
    trap 'tre_ood_forward TERM 143' TERM
    trap 'tre_ood_forward HUP 129' HUP
    trap 'tre_ood_forward TERM 130' INT
    %s
  BASH

  # For a service job, batch_connect.after_script. OnDemand's basic template calls create_yml right
  # after it, which would write connection.yml at once with an empty port and password, and the
  # dashboard would show Connect before the service answers. tre-job.sh writes connection.yml
  # itself (0600, atomically) once the service answers HTTP, so create_yml does nothing here.
  AFTER_SCRIPT = <<~'BASH'
    create_yml () { echo "tre-job writes connection.yml when the service answers"; }
  BASH

  module_function

  # The back-ends (OnDemand cluster ids) an app offers, from tre-job's site files, one per cluster
  # (SITE_DIR/clusters/CLUSTER.yaml), each with whether it has GPUs (gpuGres set). For form.yml.erb.
  def clusters(site_dir)
    require 'yaml'
    Dir.glob(File.join(site_dir, 'clusters', '*.yaml')).sort.filter_map do |file|
      id = File.basename(file, '.yaml')
      next unless id.match?(NAME)
      site = begin
        YAML.safe_load(File.read(file))
      rescue StandardError
        nil
      end
      [id, site.is_a?(Hash) && !site['gpuGres'].to_s.strip.empty?]
    end
  end

  # ctx: the ERB's self (OnDemand's form values plus staged_root). fields: the form attributes
  # passed to tre-job. overrides: values the app sets (e.g. service), not the user.
  # extra_env / extra_args: lines put before the user's env_vars / container_args.
  # Returns { 'job' => tre-job's answer, 'wall_time' => seconds }.
  def render(ctx, bin:, site_dir:, fields:, overrides: {}, extra_env: [], extra_args: [])
    form = fields.each_with_object({}) do |name, f|
      f[name] = ctx.public_send(name).to_s if ctx.respond_to?(name)
    end
    form.merge!(overrides.transform_keys(&:to_s))
    # The app's own lines go apart from the user's, so that tre-job numbers an error in the user's
    # textarea as the user sees it (tre-job puts the app's lines first).
    form['app_env_vars'] = extra_env.join("\n") unless extra_env.empty?
    form['app_container_args'] = extra_args.join("\n") unless extra_args.empty?

    token_value = ctx.respond_to?(:registry_token) ? ctx.registry_token : nil
    token = token_value.to_s.strip
    token_value.clear if token_value.is_a?(String) && !token_value.frozen?

    staged_root = ctx.respond_to?(:staged_root) ? ctx.staged_root.to_s : ''
    raise 'tre-job: this OnDemand does not pass staged_root to submit.yml.erb (OnDemand 2.0 or later is needed)' if staged_root.empty?

    cluster = ctx.respond_to?(:cluster) ? ctx.cluster.to_s : ''
    raise "tre-job: cluster: #{cluster.inspect} is not a back-end of this app" unless cluster.match?(NAME)
    site = File.join(site_dir, 'clusters', "#{cluster}.yaml")
    raise "tre-job: cluster: no tre-job site file for back-end #{cluster} (#{site})" unless File.file?(site)

    argv = [bin, 'ood', '--form-json', JSON.generate(form), '--site', site,
            '--job-dir', staged_root, '--session', File.basename(staged_root)]
    argv << '--token-stdin' unless token.empty?
    begin
      out, err, status = Open3.capture3({ 'TRE_JOB_REGISTRY_TOKEN' => nil }, *argv, stdin_data: token.empty? ? '' : "#{token}\n")
    rescue SystemCallError => e
      raise "tre-job: cannot run #{bin}: #{e.message} (see the app's install guide)"
    end
    unless status.success?
      message = err.lines.map(&:strip).reject(&:empty?).first
      raise(message || "tre-job: exited with status #{status.exitstatus}")
    end

    begin
      job = JSON.parse(out)
      raise 'no job name' unless job['jobName'].is_a?(String) && job['native'].is_a?(Array)
      wall_time = Integer(job['wallTimeSeconds'])
    rescue StandardError => e
      %w[credentials tre-job.sh job.json].each { |f| File.delete(File.join(staged_root, f)) rescue nil }
      raise "tre-job: unexpected answer from #{bin} (#{e.message})"
    end
    { 'job' => job, 'wall_time' => wall_time }
  end

  # submit.yml for OnDemand's basic template, as YAML text.
  def submit_yaml(result, service: true)
    batch_connect = { 'template' => 'basic', 'script_wrapper' => SCRIPT_WRAPPER }
    batch_connect['after_script'] = AFTER_SCRIPT if service
    script = { 'job_name' => result['job']['jobName'], 'wall_time' => result['wall_time'], 'native' => result['job']['native'] }
    require 'yaml'
    YAML.dump({ 'batch_connect' => batch_connect, 'script' => script })
  end
end
