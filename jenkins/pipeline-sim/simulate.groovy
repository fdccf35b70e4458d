// Parse a declarative Jenkinsfile with Apache Groovy and, optionally, dry-run it for one scenario.
//
//   java -cp groovy.jar groovy.ui.GroovyMain simulate.groovy Jenkinsfile [KEY=VALUE ...]
//
// Without KEY=VALUE pairs it only compiles the file (syntax errors name the line). With them, the
// pairs become the build's `env` (BRANCH_NAME, CHANGE_ID, ...) and `status:<command>=<exit>` sets the
// exit status of `sh(returnStatus: true)` calls. The run evaluates each stage's `when` the way
// Jenkins' declarative model does for the conditions this repo uses (branch, changeRequest,
// environment, allOf/anyOf/not) and prints one tab-separated line per stage and per step:
//   STAGE <name> <ran|skipped>
//   STEP  <stage> <container> <step> <argument>
// It is a small stand-in for JenkinsPipelineUnit, whose declarative support is not published to
// the package registries this project can use; it models only the steps the Jenkinsfile calls and
// fails on any other, so a new step has to be added here knowingly.

class StageSpec {
  String name
  Closure when, steps, post
}

class Recorder {
  List<String> lines = []
  Map env
  Map statuses
  Map currentBuild = [result: null, description: null]
  String stage = '-'
  String container = 'default'

  void step(String kind, Object arg) {
    lines << ['STEP', stage, container, kind, String.valueOf(arg).replace('\n', ' ')].join('\t')
  }
}

// Collects `stage('x') { when {...} steps {...} post {...} }` inside `stages { }`.
class StageDsl {
  StageSpec spec
  void when(Closure c) { spec.when = c }
  void steps(Closure c) { spec.steps = c }
  void post(Closure c) { spec.post = c }
  void agent(Closure c) { }
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
  def sh(String command) { rec.step('sh', command); 0 }
  def sh(Map args) {
    rec.step('sh', args.script)
    if (args.returnStatus) {
      return (rec.statuses[args.script] ?: '0') as int
    }
    ''
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
  def slackSend(Map args) { rec.step('slackSend', args.channel) }
  def mail(Map args) { rec.step('mail', args.to) }
  def echo(String message) { rec.step('echo', message) }
  def run(Closure c) {
    c.resolveStrategy = Closure.DELEGATE_FIRST
    c.delegate = this
    c()
  }
  def methodMissing(String name, args) { throw new IllegalStateException("step '${name}' is not modelled") }
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

class AgentDsl {
  Map agent = [:]
  void kubernetes(Closure c) {
    c.resolveStrategy = Closure.DELEGATE_FIRST
    c.delegate = this
    c()
  }
  void yamlFile(String path) { agent.yamlFile = path }
  void defaultContainer(String name) { agent.defaultContainer = name }
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

// Runs the post conditions of a stage or of the pipeline for a successful build.
void runPost(Closure body, Recorder rec, List<String> conditions) {
  if (body == null) { return }
  def blocks = [:]
  def collector = new Object() {
    def methodMissing(String name, args) { blocks[name] = args[0]; null }
  }
  body.resolveStrategy = Closure.DELEGATE_FIRST
  body.delegate = collector
  body()
  conditions.each { cond -> if (blocks[cond]) { new StepsDsl(rec: rec).run(blocks[cond]) } }
}

def jenkinsfile = new File(args[0])
def shell = new GroovyShell()
def script = shell.parse(jenkinsfile)  // compile: a syntax error stops here with file:line
println "PARSED\t${jenkinsfile}"
if (args.length == 1) { return }

def env = [:]
def statuses = [:]
args.drop(1).each { pair ->
  def (key, value) = pair.split('=', 2) as List
  if (key.startsWith('status:')) { statuses[key.substring(7)] = value } else { env[key] = value }
}
def rec = new Recorder(env: env, statuses: statuses)
def dsl = new PipelineDsl(rec: rec)
script.binding = new Binding([env: env])
script.binding.setVariable('pipeline') { Closure body ->
  body.resolveStrategy = Closure.DELEGATE_FIRST
  body.delegate = dsl
  body()
}
script.run()

println "AGENT\t${dsl.agentDsl.agent.yamlFile}\t${dsl.agentDsl.agent.defaultContainer}"
println "OPTIONS\t${dsl.optionsDsl.names.join(',')}"
dsl.stages.each { spec ->
  def when = new WhenDsl(env: env)
  if (spec.when) {
    spec.when.resolveStrategy = Closure.DELEGATE_FIRST
    spec.when.delegate = when
    spec.when()
  }
  def ran = when.results.every { it }
  println "STAGE\t${spec.name}\t${ran ? 'ran' : 'skipped'}"
  if (ran) {
    rec.stage = spec.name
    new StepsDsl(rec: rec).run(spec.steps)
    runPost(spec.post, rec, ['always', 'success'])
    rec.stage = '-'
  }
}
rec.stage = 'post'
runPost(dsl.postBody, rec, ['always', 'success'])
rec.lines.each { println it }
println "RESULT\t${rec.currentBuild.result ?: 'SUCCESS'}\t${rec.currentBuild.description ?: ''}"
