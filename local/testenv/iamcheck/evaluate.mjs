// Reads a JSON array of {id, simulation} on stdin (iam-simulate's Simulation)
// and writes a JSON array of {id, result, allowedBy, deniedBy, ignored, error}.
import { runSimulation, getDenialReasons, getGrantReasons } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const c of process.stdin) chunks.push(c)
const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'))
const out = []
for (const { id, simulation } of cases) {
  const r = await runSimulation(simulation, { simulationMode: 'Strict' })
  if (r.resultType === 'error') {
    out.push({ id, result: 'Error', error: JSON.stringify(r.errors) })
    continue
  }
  if (r.resultType !== 'single') {
    out.push({ id, result: 'Error', error: 'a resource with wildcards: ' + simulation.request.resource.resource })
    continue
  }
  const analysis = r.result.analysis
  const label = (x) => [x.policyType, x.policyIdentifier ?? x.identifier, x.statementId ?? x.statementIndex].filter((v) => v !== undefined).join('/')
  // The statements that failed to allow: action and resource matched, a
  // condition did not (or a boundary or key policy stood in the way).
  const nearMisses = []
  for (const part of ['identityAnalysis', 'permissionBoundaryAnalysis', 'resourceAnalysis']) {
    for (const st of analysis[part]?.unmatchedStatements ?? []) {
      if (!st.actionMatch || !st.resourceMatch) continue
      const failed = (st.explain?.conditions ?? []).filter((c) => !c.matches)
        .map((c) => `${c.operator} ${c.conditionKeyValue}${c.failedBecauseMissing ? ' (absent)' : ''}`)
      nearMisses.push(`${part.replace('Analysis', '')}/${st.policyId}/${st.explain?.identifier ?? st.statement?.Sid ?? "?"}: ${failed.join(', ') || 'no match'}`)
    }
  }
  out.push({
    id,
    nearMisses: r.overallResult === 'Allowed' ? [] : nearMisses,
    result: r.overallResult,
    allowedBy: r.overallResult === 'Allowed' ? getGrantReasons(analysis).map(label) : [],
    deniedBy: r.overallResult === 'Allowed' ? [] : getDenialReasons(analysis).map(label),
    ignored: r.result.ignoredContextKeys ?? []
  })
}
process.stdout.write(JSON.stringify(out))
