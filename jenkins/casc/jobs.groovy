// Job DSL seed (loaded by JCasC `jobs:`): the multibranch pipeline of the monorepo.
// GitHub webhooks trigger branch and PR builds; the periodic scan only catches missed hooks.
multibranchPipelineJob('mlops-platform') {
    displayName('mlops-platform')
    description('PR: lint, static gate, tests, preview. main: the same, then kaniko images and overlay bumps.')
    branchSources {
        branchSource {
            source {
                github {
                    id('mlops-platform-github')
                    repoOwner('mlops-platform')
                    repository('nks-mlops-gitops')
                    repositoryUrl('https://github.com/mlops-platform/nks-mlops-gitops')
                    configuredByUrl(true)
                    credentialsId('github-app-mlops-ci')
                    traits {
                        gitHubBranchDiscovery {
                            strategyId(1)  // branches that are not also PRs
                        }
                        gitHubPullRequestDiscovery {
                            strategyId(1)  // the PR merged with its target: what main becomes
                        }
                        headWildcardFilter {
                            includes('main PR-*')
                            excludes('')
                        }
                    }
                }
            }
            buildStrategies {
                // Second guard against a build loop (the Jenkinsfile's ci-skip-check is the first):
                // pushes whose commits all come from the bump bot start no build.
                ignoreCommitterStrategy {
                    ignoredAuthors('mlops-ci-bot@users.noreply.mlops-platform.invalid')
                    allowBuildIfNotExcludedAuthor(true)
                }
                buildChangeRequests {
                    ignoreTargetOnlyChanges(true)
                    ignoreUntrustedChanges(true)
                }
                buildRegularBranches()
            }
        }
    }
    factory {
        workflowBranchProjectFactory {
            scriptPath('Jenkinsfile')
        }
    }
    orphanedItemStrategy {
        discardOldItems {
            daysToKeep(14)
        }
    }
    triggers {
        periodicFolderTrigger {
            interval('1d')
        }
    }
}
