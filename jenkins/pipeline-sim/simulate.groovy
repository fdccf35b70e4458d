// Parse a declarative Jenkinsfile with Apache Groovy and, optionally, dry-run it for one scenario.
//
//   java -cp groovy.jar groovy.ui.GroovyMain simulate.groovy Jenkinsfile [KEY=VALUE ... [--next-scenario-- KEY=VALUE ...]]
//
// Without KEY=VALUE pairs it only compiles the file (syntax errors name the line). With them, the
// pairs become the build's `env` (BRANCH_NAME, CHANGE_ID, ...), and:
//   status:<command>=<exit>   exit status of that `sh` command (default 0). With `returnStatus: true`
//                             the step returns it; otherwise a non-zero status fails the step, as in Jenkins
//   stdout:<command>=<text>   what `sh(returnStdout: true)` returns for that command
//   file:<path>=<text>        what `readFile` returns
//   PREVIOUS_RESULT=<result>  the result of the previous build of the branch (for `post { fixed }`)
// The run evaluates each stage's `when` the way Jenkins' declarative model does for the conditions this
// repo uses (branch, changeRequest, environment, allOf/anyOf/not), runs the steps, and models failure:
// a failing step (non-zero `sh`, `error`) fails its stage and the build, the later stages are skipped,
// and the `post` conditions (always, success, failure, fixed, ...) run by the stage's and the build's
// result. It prints one tab-separated line per stage, per step and per failure:
//   AGENT <yamlFile> <defaultContainer>            the pipeline's pod
//   STAGEAGENT <stage> <yamlFile> <defaultContainer>  a stage with a pod of its own
//   STAGE <name> <ran|failed|skipped>
//   STEP  <stage> <container> <step> <argument>
//   FAILED <stage> <message>
//   RESULT <result> <description>
// It is a small stand-in for JenkinsPipelineUnit, whose declarative support is not published to
// the package registries this project can use; it models only the steps the Jenkinsfile calls and
// fails on any other, so a new step has to be added here knowingly.

// What a failing step throws (Jenkins: hudson.AbortException / the error step).
class StepFailure extends RuntimeException {
  StepFailure(String message) { super(message) }
}

class StageSpec {
  String name
  Closure when, steps, post
  Map agent = [:]
}

class Recorder {
  List<String> lines = []
  Map env
  Map statuses
  Map currentBuild = [result: null, description: null]
  String stage = '-'
  String container = 'default'
  Script script

  void step(String kind, Object arg) {
    lines << ['STEP', stage, container, kind, String.valueOf(arg).replace('\n', ' ')].join('\t')
  }
}

class AgentDsl {
  Map agent = [:]
  void kubernetes(Closure c) {
    c.resolveStrategy = Closure.DELEGATE_FIRST
    c.delegate = this
    c()
  }
  void yamlFile(String path) { agent.yamlFile = path }
  void defaultContainer(String name) { agent.defaultContainer = name }
  def methodMissing(String name, args) { throw new IllegalStateException("agent option '${name}' is not modelled") }
}

// Collects `stage('x') { agent {...} when {...} steps {...} post {...} }` inside `stages { }`.
class StageDsl {
  StageSpec spec
  void when(Closure c) { spec.when = c }
  void steps(Closure c) { spec.steps = c }
  void post(Closure c) { spec.post = c }
  void agent(Closure c) {
    def dsl = new AgentDsl()
    c.resolveStrategy = Closure.DELEGATE_FIRST
    c.delegate = dsl
    c()
    spec.agent = dsl.agent
  }
  void options(Closure c) { }
}

class StagesDsl {
  List<StageSpec> stages = []
  void stage(String name, Closure body) {
    def spec = new StageSpec(name: name)
    body.resolveStrategy = Closure.DELEGATE_FIRST
    body.delegate = new StageDsl(spec: spec)
    body()
    stages << spec
  }
}

// Evaluates declarative `when` conditions; each call appends one boolean.
class WhenDsl {
  Map env
  List<Boolean> results = []
  private List<Boolean> nested(Closure c) {
    def inner = new WhenDsl(env: env)
    c.resolveStrategy = Closure.DELEGATE_FIRST
    c.delegate = inner
    c()
    inner.results
  }
  void branch(String pattern) {
    def name = env.BRANCH_NAME ?: ''
    results << (name ==~ pattern.replace('.', '\\.').replace('*', '.*'))
  }
  void changeRequest(Map args = [:]) { results << (env.CHANGE_ID != null) }
  void environment(Map args) { results << (String.valueOf(env[args.name]) == String.valueOf(args.value)) }
  void allOf(Closure c) { results << nested(c).every { it } }
  void anyOf(Closure c) { results << nested(c).any { it } }
  void not(Closure c) { results << !nested(c).every { it } }
  void expression(Closure c) { results << (c() as boolean) }
  def methodMissing(String name, args) { throw new IllegalStateException("when condition '${name}' is not modelled") }
}

// The pipeline steps the Jenkinsfile uses. Anything else fails the simulation.
class StepsDsl {
  Recorder rec
  Map getEnv() { rec.env }
  Map getCurrentBuild() { rec.currentBuild }
  private int status(String command) { (rec.statuses[command] ?: '0') as int }
  def sh(String command) { sh([script: command]) }
  def sh(Map args) {
    String command = String.valueOf(args.script)
    rec.step('sh', command)
    int code = status(command)
    if (args.returnStatus) {
      return code
    }
    if (code != 0) {
      throw new StepFailure("script returned exit code ${code}: ${command}")
    }
    args.returnStdout ? (rec.env["stdout:${command}".toString()] ?: '') : null
  }
  def error(String message) {
    rec.step('error', message)
    throw new StepFailure(message)
  }
  def script(Closure c) { run(c) }
  def container(String name, Closure c) {
    def previous = rec.container
    rec.container = name
    try { run(c) } finally { rec.container = previous }
  }
  def withCredentials(List bindings, Closure c) {
    bindings.each { rec.step('credential', it.credentialsId) }
    run(c)
  }
  def usernamePassword(Map args) { args }
  def gitUsernamePassword(Map args) { args }
  def string(Map args) { args }
  def readFile(String path) { rec.step('readFile', path); rec.env["file:${path}".toString()] ?: '' }
  def archiveArtifacts(Map args) { rec.step('archiveArtifacts', args.artifacts) }
  def junit(Map args) { rec.step('junit', args.testResults) }
  def slackSend(Map args) { rec.step('slackSend', "${args.channel} ${args.color}") }
  def mail(Map args) { rec.step('mail', args.to) }
  def echo(String message) { rec.step('echo', message) }
  def run(Closure c) {
    c.resolveStrategy = Closure.DELEGATE_FIRST
    c.delegate = this
    c()
  }
  // A helper method the Jenkinsfile itself defines (outside `pipeline { }`) is called on the script,
  // whose own step calls come back here through the binding.
  def methodMissing(String name, args) {
    if (rec.script != null && rec.script.metaClass.respondsTo(rec.script, name, args)) {
      return rec.script.invokeMethod(name, args)
    }
    throw new IllegalStateException("step '${name}' is not modelled")
  }
}

// Options such as timeout(...) or buildDiscarder(logRotator(...)): recorded by name only.
class OptionsDsl {
  List<String> names = []
  def methodMissing(String name, args) { names << name; null }
}

class EnvironmentDsl {
  Map env
  void setProperty(String name, Object value) { env[name] = value }
}

class PipelineDsl {
  Recorder rec
  List<StageSpec> stages = []
  Closure postBody
  AgentDsl agentDsl = new AgentDsl()
  OptionsDsl optionsDsl = new OptionsDsl()

  private void with(Object delegate, Closure c) {
    c.resolveStrategy = Closure.DELEGATE_FIRST
    c.delegate = delegate
    c()
  }
  void agent(Closure c) { with(agentDsl, c) }
  void options(Closure c) { with(optionsDsl, c) }
  void environment(Closure c) { with(new EnvironmentDsl(env: rec.env), c) }
  void stages(Closure c) { def s = new StagesDsl(); with(s, c); stages = s.stages }
  void post(Closure c) { postBody = c }
}

// Declarative post conditions, in the order Jenkins runs them, as a test of (result, previous result).
// `previous` is null for a stage's own post block, where the build-history conditions make no sense.
POST_CONDITIONS = [
  always      : { String r, String p -> true },
  changed     : { String r, String p -> p != null && r != p },
  fixed       : { String r, String p -> r == 'SUCCESS' && p in ['FAILURE', 'UNSTABLE'] },
  regression  : { String r, String p -> p == 'SUCCESS' && r in ['FAILURE', 'UNSTABLE', 'ABORTED'] },
  aborted     : { String r, String p -> r == 'ABORTED' },
  failure     : { String r, String p -> r == 'FAILURE' },
  success     : { String r, String p -> r == 'SUCCESS' },
  unstable    : { String r, String p -> r == 'UNSTABLE' },
  notBuilt    : { String r, String p -> r == 'NOT_BUILT' },
  unsuccessful: { String r, String p -> r != 'SUCCESS' },
  cleanup     : { String r, String p -> true },
]
STAGE_CONDITIONS = ['always', 'aborted', 'failure', 'success', 'unstable', 'unsuccessful', 'cleanup']

// Runs the post block of a stage (previous == null) or of the pipeline for the given result.
void runPost(Closure body, Recorder rec, String result, String previous) {
  if (body == null) { return }
  def blocks = [:]
  def collector = new Object() {
    def methodMissing(String name, args) { blocks[name] = args[0]; null }
  }
  body.resolveStrategy = Closure.DELEGATE_FIRST
  body.delegate = collector
  body()
  blocks.keySet().each { name ->
    if (!POST_CONDITIONS.containsKey(name) || (previous == null && !(name in STAGE_CONDITIONS))) {
      throw new IllegalStateException("post condition '${name}' is not modelled in ${previous == null ? 'a stage' : 'the pipeline'}")
    }
  }
  POST_CONDITIONS.each { name, applies ->
    if (blocks[name] && applies(result, previous)) { new StepsDsl(rec: rec).run(blocks[name]) }
  }
}

// One dry run: a fresh parse of the Jenkinsfile, the scenario's KEY=VALUE pairs as its build.
void runScenario(File jenkinsfile, List<String> pairs) {
  def script = new GroovyShell().parse(jenkinsfile)
  def env = [:]
  def statuses = [:]
  pairs.each { pair ->
    def (key, value) = pair.split('=', 2) as List
    if (key.startsWith('status:')) { statuses[key.substring(7)] = value } else { env[key] = value }
  }
  def rec = new Recorder(env: env, statuses: statuses, script: script)
  def dsl = new PipelineDsl(rec: rec)
  script.binding = new Binding([env: env, currentBuild: rec.currentBuild])
  script.binding.setVariable('pipeline') { Closure body ->
    body.resolveStrategy = Closure.DELEGATE_FIRST
    body.delegate = dsl
    body()
  }
  // Steps called from the Jenkinsfile's own helper methods reach the same model through the binding.
  ['sh', 'error', 'echo', 'readFile'].each { name ->
    script.binding.setVariable(name) { Object... stepArgs -> new StepsDsl(rec: rec).invokeMethod(name, stepArgs) }
  }
  script.run()

  println "AGENT\t${dsl.agentDsl.agent.yamlFile}\t${dsl.agentDsl.agent.defaultContainer}"
  println "OPTIONS\t${dsl.optionsDsl.names.join(',')}"
  String failedStage = null
  dsl.stages.each { spec ->
    if (spec.agent) {
      println "STAGEAGENT\t${spec.name}\t${spec.agent.yamlFile}\t${spec.agent.defaultContainer}"
    }
    boolean ran = false
    if (failedStage == null) {  // after a failure Jenkins skips every later stage
      def when = new WhenDsl(env: env)
      if (spec.when) {
        spec.when.resolveStrategy = Closure.DELEGATE_FIRST
        spec.when.delegate = when
        spec.when()
      }
      ran = when.results.every { it }
    }
    if (!ran) {
      println "STAGE\t${spec.name}\tskipped"
      return
    }
    rec.stage = spec.name
    rec.container = spec.agent.defaultContainer ?: 'default'
    String stageResult = 'SUCCESS'
    try {
      new StepsDsl(rec: rec).run(spec.steps)
    } catch (StepFailure failure) {
      stageResult = 'FAILURE'
      failedStage = spec.name
      rec.currentBuild.result = 'FAILURE'
      rec.lines << ['FAILED', spec.name, failure.message.replace('\n', ' ')].join('\t')
    }
    println "STAGE\t${spec.name}\t${stageResult == 'SUCCESS' ? 'ran' : 'failed'}"
    runPost(spec.post, rec, stageResult, null)
    rec.stage = '-'
    rec.container = 'default'
  }
  rec.stage = 'post'
  String result = rec.currentBuild.result ?: 'SUCCESS'
  runPost(dsl.postBody, rec, result, env.PREVIOUS_RESULT ?: 'SUCCESS')
  rec.lines.each { println it }
  println "RESULT\t${result}\t${rec.currentBuild.description ?: ''}"
}

def jenkinsfile = new File(args[0])
new GroovyShell().parse(jenkinsfile)  // compile: a syntax error stops here with file:line
println "PARSED\t${jenkinsfile}"
if (args.length == 1) { return }
// Several scenarios in one JVM: their pair lists are separated by --next-scenario--.
List<List<String>> groups = [[]]
args.drop(1).each { arg -> if (arg == '--next-scenario--') { groups << [] } else { groups[-1] << arg } }
groups.eachWithIndex { pairs, index ->
  println "SCENARIO\t${index}"
  runScenario(jenkinsfile, pairs)
}
