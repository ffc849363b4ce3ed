// Local mode's IAM decisions: @cloud-copilot/iam-simulate (AGPL, a dev tool from
// node_modules, never packaged) in one long-running process. One JSON request per line
// on stdin ({"id", "simulation"}), one answer per line on stdout ({"id", "result"}):
// "Allowed", "ImplicitlyDenied", "ExplicitlyDenied", or "Error" with the reasons.
import { runSimulation } from '@cloud-copilot/iam-simulate'
import readline from 'node:readline'

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', async (line) => {
  let id = null
  let answer
  try {
    const request = JSON.parse(line)
    id = request.id
    const outcome = await runSimulation(request.simulation, {})
    answer = outcome.resultType === 'error'
      ? { id, result: 'Error', errors: outcome.errors }
      : { id, result: outcome.overallResult }
  } catch (error) {
    answer = { id, result: 'Error', errors: String(error) }
  }
  process.stdout.write(JSON.stringify(answer) + '\n')
})
lines.on('close', () => process.exit(0))
