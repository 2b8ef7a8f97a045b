// supabase-js's own Realtime client following one discovery job against the simulator, as useJobProgress does:
// sign in, submit a background discovery, subscribe to postgres_changes on its discovery_jobs row, collect the
// row's status until completed or failed. Prints one JSON line: {subscribed, statuses, progress, error}.
// Usage: node follow_job.mjs URL PUBLISHABLE_KEY EMAIL PASSWORD VSN
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'

const [url, key, email, password, vsn] = process.argv.slice(2)
const realtime = { transport: WebSocket }  // Node 20 has no global WebSocket
if (vsn !== 'default') realtime.vsn = vsn
const supabase = createClient(url, key, { realtime, auth: { persistSession: false } })
const result = { subscribed: false, statuses: [], progress: [], error: null }
const give_up = setTimeout(() => finish('timeout'), 30000)

let finished = false
function finish(error) {
  if (finished) return  // removing the channel below reports CLOSED to the subscribe callback
  finished = true
  result.error = error
  clearTimeout(give_up)
  console.log(JSON.stringify(result))
  supabase.removeAllChannels().finally(() => process.exit(0))
}

const { data: auth, error: signInError } = await supabase.auth.signInWithPassword({ email, password })
if (signInError) finish(`sign-in: ${signInError.message}`)
const { data: job, error: submitError } = await supabase.functions.invoke('business-discovery-background', {
  body: { businessType: 'coffee shop', location: 'Seattle, WA', maxResults: 3, tierKey: 'BASE',
          sessionUserId: auth.user.id },
})
if (submitError) finish(`submit: ${submitError.message}`)
supabase
  .channel(`discovery_jobs_${job.jobId}`)
  .on('postgres_changes', { event: '*', schema: 'public', table: 'discovery_jobs', filter: `id=eq.${job.jobId}` },
      (payload) => {
        result.statuses.push(payload.new.status)
        result.progress.push(payload.new.progress)
        if (typeof payload.new.metrics !== 'object') finish('metrics is not an object')
        if (['completed', 'failed'].includes(payload.new.status)) finish(null)
      })
  .subscribe((status, err) => {
    if (status === 'SUBSCRIBED') result.subscribed = true
    else finish(`channel ${status}: ${err?.message ?? ''}`)
  })
