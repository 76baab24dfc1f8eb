# The code the tre-job Open OnDemand apps (ood/apps/batch_container, jupyter, rstudio) share: their
# ERB files hold only what is their own, and call this module for the rest.
#
# Each ERB finds this file in its first two Ruby lines, in the tre-job install that TRE_JOB_BIN
# points to (/opt/tre-job/bin/tre-job -> /opt/tre-job/ood/lib/tre_job_ood.rb; TRE_JOB_OOD_LIB
# overrides), so a site installs it once, with tre-job, and the apps copied to
# /var/www/ood/apps/sys/ need no file outside themselves.
#
# What it must know of tre-job (the files of a job directory, the log line of the exit status,
# the form values tre-job reads, the keys of its answer, the token variable, a back-end's limits)
# it asks tre-job itself: `tre-job ood --contract [--site FILE]`, once per dashboard process and
# site file (TreJobOod.contract).
#
# - TreJobOod.form (form.yml.erb): the form, from the app's own part and what the apps share;
#   the hours field's maximum is each back-end's maxTime in whole hours.
# - TreJobOod.submit (submit.yml.erb) runs `tre-job ood`: form values as JSON in argv, the
#   registry token on stdin only (and blanked in place in the form, so OnDemand's context files
#   hold ""), the job written into the session's staged root (tre-job.sh, credentials, and
#   job.json, tre-job's job record, which the job cards and `tre-job status` read). A bad value
#   raises tre-job's one line, which OnDemand shows, before anything is staged or submitted.
# - TreJobOod.card (info.md.erb, completed.md.erb): the job card's name and exit status; for a job
#   array, its tasks, their logs and outputs, and how many have finished; for a session on a
#   back-end whose home is its own, where its log and outputs are there and how to see them.
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

  # The form attributes (OnDemand widgets) the apps share; an app's form.yml.erb adds to them or
  # changes them (help texts, the runner's options) and lists which it offers. The cluster's
  # options come from tre-job's site files (form).
  FORM_ATTRIBUTES = {
    'cluster' => { 'widget' => 'select', 'label' => 'Back-end' },
    'image' => { 'widget' => 'text_field', 'label' => 'Container image URL', 'required' => true },
    'registry_username' => { 'widget' => 'text_field', 'label' => 'Registry username' },
    # Never prefilled from a previous session. submit.yml.erb hands the token to tre-job on stdin
    # and blanks the form value before OnDemand writes its context files.
    'registry_token' => { 'widget' => 'password_field', 'label' => 'Registry access token', 'cacheable' => false },
    'runner' => { 'widget' => 'select', 'label' => 'Container runner', 'options' => [%w[Podman podman], %w[Apptainer apptainer]] },
    'cpus' => { 'widget' => 'number_field', 'label' => 'CPUs', 'value' => 1, 'min' => 1, 'step' => 1 },
    'memory_gib' => { 'widget' => 'number_field', 'label' => 'Memory (GiB)', 'value' => 4, 'min' => 1, 'step' => 1 },
    # OnDemand's own smart attribute (always required); form fills in max and value from the site
    # files. OnDemand would set wall_time from it too; submit.yml's wall_time (tre-job's) wins.
    'bc_num_hours' => {
      'widget' => 'number_field', 'label' => 'Number of hours', 'min' => 1, 'step' => 1,
      'help' => "The session's wall time in whole hours, up to the back-end's maximum. The session ends when it runs out.",
    },
    'use_gpu' => { 'widget' => 'check_box', 'label' => 'Use a GPU', 'help' => 'Only offered on back-ends that have GPUs.' },
    'env_vars' => { 'widget' => 'text_area', 'label' => 'Environment variables' },
    'container_args' => { 'widget' => 'text_area', 'label' => 'Container arguments' },
  }.freeze

  # The JSON types the contract names for the keys of tre-job's answer.
  JSON_TYPES = { 'string' => [String], 'integer' => [Integer], 'array' => [Array], 'null' => [NilClass] }.freeze

  # The job card's facts: the name to show and the log's name (Markdown), the exit status once ended.
  # For a job array (tasks set): name and log hold TASK for the task's index, there is no one exit
  # status, and the card has the array's shape (array: "Job array of N tasks ..."), where the tasks'
  # outputs are kept (outputs), the command that lists them (status) and, once ended, how many tasks
  # logged their exit status (finished) and how many of those were 0 (succeeded).
  # For a session on a back-end whose home is its own (host set): log and outputs are HOST:PATH
  # there, and status is the command that reads the log from here.
  Card = Struct.new(:name, :log, :exit_status, :tasks, :array, :outputs, :status, :finished, :succeeded, :host)

  HOURS = 'bc_num_hours'

  @contracts = {}

  module_function

  # The tre-job to run: TRE_JOB_BIN, else the one of the install this file is in.
  def bin
    ENV.fetch('TRE_JOB_BIN') { File.expand_path('../../bin/tre-job', __dir__) }
  end

  # tre-job's site files: SITE_DIR/clusters/CLUSTER.yaml.
  def site_dir
    ENV.fetch('TRE_JOB_SITE_DIR', '/etc/tre-job')
  end

  # What tre-job tells its OnDemand apps (`tre-job ood --contract`), asked once per process and tre-job.
  # With a site file, also that back-end's limits ('site'), asked once per file as it is now (a site
  # file edited since is asked again); any answer serves the calls that need no site.
  def contract(site = nil)
    return @contracts[[bin]] ||= ask_contract unless site

    @contracts[[bin, site, File.mtime(site)]] ||= ask_contract('--site', site).tap { |c| @contracts[[bin]] ||= c }
  end

  def ask_contract(*args)
    out, err, status = Open3.capture3(bin, 'ood', '--contract', *args)
    raise(err.lines.map(&:strip).reject(&:empty?).first || "tre-job: #{bin} ood --contract exited with status #{status.exitstatus}") unless status.success?
    JSON.parse(out)
  rescue SystemCallError => e
    raise "tre-job: cannot run #{bin}: #{e.message} (see the app's install guide)"
  rescue JSON::ParserError => e
    raise "tre-job: unexpected answer from #{bin} ood --contract (#{e.message})"
  end

  # The tre-job site file of a back-end (OnDemand cluster id).
  def site_file(cluster, dir = site_dir)
    File.join(dir, 'clusters', "#{cluster}.yaml")
  end

  # The back-ends (OnDemand cluster ids) an app offers, from tre-job's site files, one per cluster
  # (SITE_DIR/clusters/CLUSTER.yaml), each with whether it has GPUs (gpuGres set).
  def clusters(dir = site_dir)
    require 'yaml'
    Dir.glob(site_file('*', dir)).sort.filter_map do |file|
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

  # The most whole hours a job may ask for on a back-end (its site's maxTime, from tre-job), or nil
  # if tre-job cannot read its site file (the submit then fails with tre-job's line).
  def max_hours(cluster)
    contract(site_file(cluster)).fetch('site').fetch('maxHours')
  rescue StandardError
    nil
  end

  # form.yml for form.yml.erb, as YAML text. app_yaml: the app's own part (title, description, form:
  # the fields it offers, and attributes: what it adds to FORM_ATTRIBUTES or changes there, key by
  # key). The back-ends are those of tre-job's site files; Use a GPU is hidden on those without GPUs.
  # The hours field's maximum follows the chosen back-end (data-max-bc-num-hours) and starts at the
  # largest, as does its value (the site's maxTime, as before the field existed); it is hidden on a
  # back-end whose maxTime is under an hour (tre-job does not read it there), and left out of the
  # form where no back-end allows an hour.
  def form(app_yaml)
    require 'yaml'
    app = YAML.safe_load(app_yaml)
    found = clusters
    fields = app.fetch('form')
    hours = fields.include?(HOURS) ? found.to_h { |id, _| [id, max_hours(id)] } : {}
    most = hours.values.compact.max
    fields -= [HOURS] unless most&.positive?
    hours_data = "data-max-#{HOURS.tr('_', '-')}"
    own = app.fetch('attributes', {})
    shared = FORM_ATTRIBUTES.merge(
      'cluster' => FORM_ATTRIBUTES['cluster'].merge('options' => found.map do |id, gpu|
        data = {}
        data['data-hide-use-gpu'] = true unless gpu
        data[hours_data] = hours[id] if hours[id]&.positive?
        data["data-hide-#{HOURS.tr('_', '-')}"] = true if hours[id]&.zero?
        data.empty? ? [id, id] : [id, id, data]
      end),
      HOURS => FORM_ATTRIBUTES[HOURS].merge('max' => most, 'value' => most),
    )
    attributes = fields.to_h { |field| [field, shared.fetch(field, {}).merge(own.fetch(field, {}))] }
    head = app.reject { |key, _| %w[form attributes].include?(key) }
    YAML.dump(head.merge('cacheable' => head.fetch('cacheable', true), 'cluster' => found.map(&:first),
                         'form' => fields, 'attributes' => attributes))
  end

  # ctx: the ERB's self (OnDemand's form values plus staged_root). service: the app's service (jupyter,
  # rstudio, http), nil for a batch job. extra_env / extra_args: lines put before the user's env_vars /
  # container_args. Returns tre-job's answer (jobName, wallTimeSeconds, native, ...).
  def render(ctx, service: nil, extra_env: [], extra_args: [])
    # The token first, so that its form value is blanked whatever fails below.
    token_value = ctx.respond_to?(:registry_token) ? ctx.registry_token : nil
    token = token_value.to_s.strip
    token_value.clear if token_value.is_a?(String) && !token_value.frozen?

    staged_root = ctx.respond_to?(:staged_root) ? ctx.staged_root.to_s : ''
    raise 'tre-job: this OnDemand does not pass staged_root to submit.yml.erb (OnDemand 2.0 or later is needed)' if staged_root.empty?

    cluster = ctx.respond_to?(:cluster) ? ctx.cluster.to_s : ''
    raise "tre-job: cluster: #{cluster.inspect} is not a back-end of this app" unless cluster.match?(NAME)
    site = site_file(cluster)
    raise "tre-job: cluster: no tre-job site file for back-end #{cluster} (#{site})" unless File.file?(site)

    c = contract(site) # the form asked the same, for this back-end's hours
    app_fields = c.fetch('appFields')
    form = (c.fetch('formFields') - app_fields.values).each_with_object({}) do |name, f|
      f[name] = ctx.public_send(name).to_s if ctx.respond_to?(name)
    end
    form[app_fields.fetch('service')] = service if service
    # The app's own lines go apart from the user's, so that tre-job numbers an error in the user's
    # textarea as the user sees it (tre-job puts the app's lines first).
    form[app_fields.fetch('env')] = extra_env.join("\n") unless extra_env.empty?
    form[app_fields.fetch('args')] = extra_args.join("\n") unless extra_args.empty?

    argv = [bin, 'ood', '--form-json', JSON.generate(form), '--site', site,
            '--job-dir', staged_root, '--session', File.basename(staged_root)]
    argv << '--token-stdin' unless token.empty?
    begin
      out, err, status = Open3.capture3({ c.fetch('tokenEnv') => nil }, *argv, stdin_data: token.empty? ? '' : "#{token}\n")
    rescue SystemCallError => e
      raise "tre-job: cannot run #{bin}: #{e.message} (see the app's install guide)"
    end
    unless status.success?
      message = err.lines.map(&:strip).reject(&:empty?).first
      raise(message || "tre-job: exited with status #{status.exitstatus}")
    end

    begin
      job = JSON.parse(out)
      raise 'not a JSON object' unless job.is_a?(Hash)
      c.fetch('answer').each do |key, types|
        raise "#{key} is not #{types.join(' or ')}" unless types.any? { |t| JSON_TYPES.fetch(t, []).any? { |k| job[key].is_a?(k) } }
      end
    rescue StandardError => e
      c.fetch('removeOnBadAnswer').each { |f| File.delete(File.join(staged_root, f)) rescue nil }
      raise "tre-job: unexpected answer from #{bin} (#{e.message})"
    end
    job
  end

  # submit.yml for submit.yml.erb (OnDemand's basic template), as YAML text: the job rendered by
  # tre-job from the form values (render). service: nil for a batch job; jupyter, rstudio or http
  # for a service, whose after_script keeps OnDemand from writing connection.yml itself.
  def submit(ctx, service: nil, extra_env: [], extra_args: [])
    job = render(ctx, service: service, extra_env: extra_env, extra_args: extra_args)
    batch_connect = { 'template' => 'basic', 'script_wrapper' => SCRIPT_WRAPPER }
    batch_connect['after_script'] = after_script if service
    script = { 'job_name' => job['jobName'], 'wall_time' => job['wallTimeSeconds'], 'native' => job['native'] }
    require 'yaml'
    YAML.dump({ 'batch_connect' => batch_connect, 'script' => script })
  end

  # For a service job, batch_connect.after_script. OnDemand's basic template calls create_yml right
  # after it, which would write connection.yml at once with an empty port and password, and the
  # dashboard would show Connect before the service answers. tre-job.sh writes connection.yml
  # itself (0600, atomically) once the service answers HTTP, so create_yml does nothing here.
  def after_script
    %(create_yml () { echo "tre-job writes #{contract.fetch('files').fetch('connection')} when the service answers"; }\n)
  end

  # The job card of the session in staged_root (OnDemand renders info.md.erb and completed.md.erb
  # with the session as self): the container's name, else the job's, from tre-job's job record,
  # with _ escaped for Markdown (tre-job allows only letters, digits and _ . : - in names); the
  # log's file name, as Markdown code; and, when ended, the exit status from the end of the log.
  # A job array's card is array_card's. job_id: OnDemand's id of the job (the session's job_id),
  # for an array whose record has none yet.
  # A card never fails (it is rendered on every page of sessions): what cannot be read is left out.
  def card(staged_root, ended: false, job_id: nil)
    files = contract.fetch('files')
    record = begin
      JSON.parse(File.read(File.join(staged_root.to_s, files.fetch('record'))))
    rescue StandardError
      {}
    end
    record = {} unless record.is_a?(Hash)
    name = record.values_at(*contract.fetch('cardName')).compact.first || 'the container'
    host = record['host']
    return remote_card(staged_root.to_s, record, name.to_s, host, job_id: job_id) if host.is_a?(String) && host.match?(NAME)

    tasks = record.dig('array', 'tasks')
    return array_card(staged_root.to_s, record, name.to_s, ended: ended, job_id: job_id) if tasks.is_a?(Integer) && tasks.positive?

    log = File.join(staged_root.to_s, files.fetch('log'))
    Card.new(name.to_s.gsub('_', '\_'), "`#{files.fetch('log')}`", ended ? exit_status(log) : nil)
  rescue StandardError
    Card.new('the container', 'the log', nil)
  end

  # The card of a job array: its tasks' logs are the record's outputLog with Slurm's %a for the
  # task (output-%a.log), its container names the record's with %a too. Task 0's log (its head)
  # names the array's id and outputs-NUMBER; once ended, each task's log is read from its end only
  # (an array may have a thousand tasks, and the card is rendered on every page of sessions).
  def array_card(root, record, name, ended:, job_id:)
    tasks = record['array']['tasks']
    parallel = record['array']['parallel']
    pattern = File.basename(record['outputLog'].to_s)
    pattern = nil unless pattern.include?('%a')
    task_log = ->(task) { File.join(root, pattern.sub('%a', task.to_s)) }
    head = pattern ? log_head(task_log.call(0)) : ''
    # Task 0's first lines (the contract's logStarted and logOutputs): "Job A_0 started", "Outputs: .../outputs-N/0".
    started = head[Regexp.new(contract.fetch('logStarted')), 1].to_s[/\A([0-9]+)_0\z/, 1]
    outputs = head[Regexp.new(contract.fetch('logOutputs')), 1].to_s[%r{/(outputs-[0-9]+)/0\z}, 1]
    id = [record['jobId'], job_id, started].map(&:to_s).find { |i| i.match?(/\A[0-9]+\z/) }
    array = "Job array of #{tasks} task#{'s' unless tasks == 1}"
    array += " (at most #{parallel} at once)" if parallel.is_a?(Integer)
    card = Card.new(name.sub('%a', 'TASK').gsub('_', '\_'), pattern ? "`#{pattern.sub('%a', 'TASK')}`" : "the task's log", nil,
                    tasks, array, "`$HOME/#{outputs || 'outputs-NUMBER'}/TASK`", "`tre-job status #{id || 'ARRAYID'}`")
    if ended && pattern
      statuses = (0...tasks).filter_map { |task| exit_status(task_log.call(task), tail: 4096) }
      card.finished = statuses.size
      card.succeeded = statuses.count(0)
    end
    card
  end

  # The card of a session on back-end HOST, whose home is its own (the record's host, site home:
  # {ssh: HOST}): its log, outputs and exit status are in that home, not here, so the card reads no
  # log (not over ssh either: it is rendered on every page of sessions). It says where they are:
  # the log at the staged root's path there (an array's: output-TASK.log), outputs in HOST's
  # ~/outputs-NUMBER; and that `tre-job logs JOBID` reads the log from here (or ssh HOST).
  def remote_card(root, record, name, host, job_id:)
    pattern = File.basename(record['outputLog'].to_s)
    pattern = contract.fetch('files').fetch('log') if pattern.empty?
    id = [record['jobId'], job_id].map(&:to_s).find { |i| i.match?(/\A[0-9]+\z/) }
    Card.new(name.sub('%a', 'TASK').gsub('_', '\_'), "`#{host}:#{File.join(root, pattern.sub('%a', 'TASK'))}`", nil, nil, nil,
             "`#{host}:~/outputs-NUMBER`", "`tre-job logs #{id || 'JOBID'}`", nil, nil, host)
  end

  # The first 16 KiB of a log ('' if it cannot be read): where a task logs its id and outputs.
  def log_head(path)
    File.open(path) { |log| log.read(16_384).to_s }
  rescue StandardError
    ''
  end

  # The exit status in the job's last "Job finished with exit status N" line (the contract's
  # logFinished), read from the last 64 KiB of the log (tail bytes); nil if there is none. The line
  # is the job script's last; only OnDemand's clean-up and Slurm's own lines may follow it.
  def exit_status(log_path, tail: 65_536)
    finished = Regexp.new(contract.fetch('logFinished'))
    File.open(log_path) do |log|
      log.seek([log.size - tail, 0].max)
      status = log.read.scan(finished).flatten.last
      status && Integer(status, 10)
    end
  rescue StandardError
    nil
  end
end
