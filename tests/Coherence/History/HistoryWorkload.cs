using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace ShopAstro.Tests.Coherence.History;

/// <summary>
/// The workload of the history check over the HTTP contract: one writer per subject (grants, withdrawals, minor
/// flags set and lifted, cancellations, deletions), one policy publisher (active and suspended versions), checks on
/// every edge all the time; and the faults: kill -9 and SIGSTOP/SIGCONT of silos and edges, PostgreSQL write failures
/// (the consent table locked, the blocked writers' backends terminated) and network partitions.
/// </summary>
internal sealed class HistoryWorkload(HistoryCluster cluster, int subjects)
{
    public const string StoreId = "hist";
    private const string PolicyBody =
        """{{"version":{0},"status":"{1}","sellerAttestation":true,"purposes":{{"analytics":{{"enabled":true,"materialChange":false}}}}}}""";

    private readonly Random _random = new(Environment.GetEnvironmentVariable("SHOPASTRO_HISTORY_SEED") is { } seed ? int.Parse(seed) : Random.Shared.Next());
    private readonly HttpClient[] _clients = [.. cluster.Edges.Select(e => HistoryCluster.Client(e.Url))];
    private readonly List<(long Start, long? End)> _faults = [];
    private readonly List<(string Kind, long At)> _timeline = [];
    private readonly List<(long Acquired, long Released)> _lockWindows = [];

    public HistoryLog Log { get; } = new(Enumerable.Range(0, subjects).Select(i => $"u{i}"));

    public Dictionary<string, int> Injected { get; } = [];

    private int _writes;
    private int _ackedWrites;
    private int _failedWrites;

    public int Writes => _writes;

    public int AckedWrites => _ackedWrites;

    public int FailedWrites => _failedWrites;

    public int NotStoredWrites => Log.Subjects.Values.Sum(t => t.Events.Count(e => e.NotStored)) + Log.Policy.Events.Count(e => e.NotStored);

    private static long Now => Stopwatch.GetTimestamp();

    private int Next(int max)
    {
        lock (_random)
        {
            return _random.Next(max);
        }
    }

    private HttpClient AnyEdge => _clients[Next(_clients.Length)];

    public async Task PublishFirstAsync()
    {
        using var response = await _clients[0].PutAsync($"/v1/stores/{StoreId}/policy", Json(string.Format(PolicyBody, 1, "active")));
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Writers, the publisher, the checkers and the faults, for <paramref name="duration"/>.</summary>
    public async Task RunAsync(TimeSpan duration)
    {
        using var stop = new CancellationTokenSource(duration);
        using var keeper = new CancellationTokenSource();
        var keeping = cluster.KeepRunningAsync(name => Count("process started again (after kill -9, or a silo the cluster declared dead)"), keeper.Token);
        var tasks = new List<Task>();
        tasks.AddRange(Log.Subjects.Keys.Select(subject => Task.Run(() => WriterAsync(subject, stop.Token))));
        var deadline = Now + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        tasks.Add(Task.Run(() => PublisherAsync(deadline, stop.Token)));
        tasks.AddRange(_clients.SelectMany((client, edge) => Enumerable.Range(0, 3).Select(_ => Task.Run(() => CheckerAsync(cluster.Edges[edge].Name, client, stop.Token)))));
        tasks.Add(Task.Run(() => FaultsAsync(stop.Token)));
        await Task.WhenAll(tasks);

        // Every fault ends: the network heals, paused processes go on, held-down ones start again.
        await cluster.Lab.HealAsync();
        foreach (var member in cluster.Members)
        {
            member.Process?.Resume();
            cluster.Release(member);
        }

        await Task.Delay(TimeSpan.FromSeconds(3));
        await keeper.CancelAsync();
        await keeping;
        foreach (var member in cluster.Members.Where(m => m.Process is null or { HasExited: true }))
        {
            await cluster.StartAsync(member);
        }
    }

    // ---- writes -------------------------------------------------------------------------------------------------

    private async Task WriterAsync(string subject, CancellationToken stop)
    {
        var subjectIndex = int.Parse(subject[1..]);
        while (!stop.IsCancellationRequested)
        {
            var roll = Next(100);
            var op = roll switch
            {
                < 36 => SubjectOp.Grant,
                < 66 => SubjectOp.Withdraw,
                < 76 => SubjectOp.Minor,
                < 88 => SubjectOp.LiftMinor,
                < 99 => SubjectOp.Erase,
                // Cancellation is for good: only a few subjects get one, so most stay writable.
                _ => subjectIndex % 4 == 0 ? SubjectOp.Cancel : SubjectOp.Grant,
            };
            await WriteAsync(subject, op);
            await Task.Delay(20 + Next(150), CancellationToken.None);
        }
    }

    private async Task WriteAsync(string subject, SubjectOp op)
    {
        var path = $"/v1/stores/{StoreId}/subjects/{subject}";
        var start = Now;
        var (status, code, body) = await SendAsync(AnyEdge, op switch
        {
            SubjectOp.Grant => new HttpRequestMessage(HttpMethod.Put, path + "/consents") { Content = Json("""{"purposes":{"analytics":true},"policyVersion":1,"source":"api"}""") },
            SubjectOp.Withdraw => new HttpRequestMessage(HttpMethod.Put, path + "/consents") { Content = Json("""{"purposes":{"analytics":false},"policyVersion":1,"source":"api"}""") },
            SubjectOp.Minor => new HttpRequestMessage(HttpMethod.Put, path + "/age") { Content = Json("""{"minor":true}""") },
            SubjectOp.LiftMinor => new HttpRequestMessage(HttpMethod.Put, path + "/age") { Content = Json("""{"minor":false}""") },
            SubjectOp.Cancel => new HttpRequestMessage(HttpMethod.Post, path + "/cancel"),
            _ => new HttpRequestMessage(HttpMethod.Delete, path),
        });
        var end = Now;
        Record(subject, op, start, end, status, code, body);
    }

    private void Record(string subject, SubjectOp op, long start, long end, HttpStatusCode? status, string? code, JsonNode? body)
    {
        var timeline = Log.Subjects[subject];
        var before = timeline.Possible;
        var outcomes = before.Select(state => (Before: state, Result: SubjectRules.Apply(op, state))).ToList();
        var intended = outcomes.Where(o => o.Result.Refusal is null).Select(o => o.Result.Next).ToHashSet();
        var what = $"{op} {subject} -> {(int?)status} {code}";
        Interlocked.Increment(ref _writes);
        if (status is { } ok && (int)ok is >= 200 and < 300)
        {
            Interlocked.Increment(ref _ackedWrites);
            var after = intended.Where(s => Fits(s, body)).ToHashSet();
            if (after.Count == 0)
            {
                Log.Violations.Enqueue($"S3/S4: {what} was acknowledged, but no state the history allows accepts it (before: {string.Join(", ", before)}; answer {body?.ToJsonString()})");
                after = Observed(body) is { } observed ? [observed] : intended;
            }

            var changes = outcomes.Where(o => o.Result.Refusal is null && after.Contains(o.Result.Next)).ToList();
            var restrictive = changes.Any(o => SubjectState.Restricts(o.Before, o.Result.Next));
            var unrestricted = changes.Where(o => !SubjectState.Restricts(o.Before, o.Result.Next)).Select(o => o.Before).ToHashSet();
            timeline.Add(new(what, start, end, true, restrictive, false, after, intended, unrestricted));
        }
        else if (status == HttpStatusCode.Conflict && code is "subject_minor" or "subject_cancelled")
        {
            var after = outcomes.Where(o => o.Result.Refusal == code).Select(o => o.Before).ToHashSet();
            if (after.Count == 0)
            {
                Log.Violations.Enqueue($"S3/S4: {what}: refused, but no state the history allows refuses it so (before: {string.Join(", ", before)})");
                after = [new SubjectState(code == "subject_minor" ? ModelStatus.Minor : ModelStatus.Cancelled, ModelConsent.None)];
            }

            timeline.Add(new(what, start, end, false, false, false, after, []));
        }
        else if (status is { } refused && (int)refused is >= 400 and < 500 && refused != HttpStatusCode.RequestTimeout)
        {
            timeline.Add(new(what, start, end, false, false, false, [.. before], []));
        }
        else
        {
            Interlocked.Increment(ref _failedWrites);
            var notStored = NotStored(start, end);
            timeline.Add(new(what, start, end, false, false, notStored, notStored ? [.. before] : [.. before, .. intended], intended));
        }
    }

    /// <summary>Whether a write's answer (a subject record, when it carries one) fits the state.</summary>
    private static bool Fits(SubjectState state, JsonNode? body) => Observed(body) is not { } observed || observed == state;

    private static SubjectState? Observed(JsonNode? record)
    {
        if (record?["status"]?.GetValue<string>() is not { } status)
        {
            return null;
        }

        var granted = record["consents"]?["analytics"]?["granted"]?.GetValue<bool>();
        return new SubjectState(
            status switch { "minor" => ModelStatus.Minor, "cancelled" => ModelStatus.Cancelled, _ => ModelStatus.Active },
            granted switch { true => ModelConsent.Granted, false => ModelConsent.Withdrawn, null => ModelConsent.None });
    }

    /// <summary>
    /// A write that failed while the consent table was locked, started after the lock and answered before its
    /// release, with no other fault around it, was refused by PostgreSQL (its backend terminated): it is not stored.
    /// A grain call times out only after 10 s, longer than any lock window, so the failure is not a timeout.
    /// </summary>
    private bool NotStored(long start, long end)
    {
        lock (_faults)
        {
            return _lockWindows.Any(w => w.Acquired < start && end < w.Released)
                && !_faults.Any(f => f.Start < end && (f.End ?? long.MaxValue) > start);
        }
    }

    // ---- policy ---------------------------------------------------------------------------------------------------

    /// <summary>
    /// More than a policy lease (the silos' default 30 s): the least a version can be scheduled ahead. The first publish
    /// of a run that is long enough is scheduled, later ones one in five.
    /// </summary>
    private static readonly TimeSpan ScheduleLead = TimeSpan.FromSeconds(34);

    private async Task PublisherAsync(long deadline, CancellationToken stop)
    {
        var version = 1;
        while (!stop.IsCancellationRequested)
        {
            await Task.Delay(1000 + Next(2500), CancellationToken.None);
            version++;
            var suspended = Next(100) < 30;
            var lastsLongEnough = Now + (long)((ScheduleLead.TotalSeconds + 4) * Stopwatch.Frequency) < deadline;
            if (lastsLongEnough && (version == 2 || Next(100) < 20))
            {
                await ScheduleAsync(version, suspended);
                continue;
            }

            var start = Now;
            var (status, _, _) = await SendAsync(AnyEdge, new HttpRequestMessage(HttpMethod.Put, $"/v1/stores/{StoreId}/policy")
            {
                Content = Json(string.Format(PolicyBody, version, suspended ? "suspended" : "active")),
            });
            var end = Now;
            var before = Log.Policy.Possible;
            PolicyState published = new(version, suspended);
            var what = $"publish {published} -> {(int?)status}";
            Interlocked.Increment(ref _writes);
            if (status == HttpStatusCode.OK)
            {
                Interlocked.Increment(ref _ackedWrites);
                Log.Policy.Add(new(what, start, end, true, suspended, false, [published], [published]));
            }
            else if (status == HttpStatusCode.Conflict)
            {
                // Not increasing: an earlier publish that failed was stored after all.
                var after = before.Where(p => p.Version >= version).ToHashSet();
                if (after.Count == 0)
                {
                    Log.Violations.Enqueue($"S3: {what}: refused as not increasing, but no version that high was ever sent");
                    after = [.. before];
                }

                Log.Policy.Add(new(what, start, end, false, false, false, after, []));
            }
            else
            {
                Interlocked.Increment(ref _failedWrites);
                var notStored = NotStored(start, end);
                Log.Policy.Add(new(what, start, end, false, false, notStored, notStored ? [.. before] : [.. before, published], [published]));
            }
        }
    }

    /// <summary>
    /// A version published to take effect <see cref="ScheduleLead"/> later. It is a write at that instant (within the
    /// 2 ms the wall clock and the monotonic one may disagree): acknowledged if the publish was, and restrictive
    /// whatever it says, since a scheduled version is promised exactly: no check that starts after the instant
    /// answers from the version before, none that ended before it from the new one. Nothing else is published until
    /// it has taken effect.
    /// </summary>
    private async Task ScheduleAsync(int version, bool suspended)
    {
        var effectiveAt = DateTimeOffset.UtcNow + ScheduleLead;
        effectiveAt = new DateTimeOffset(effectiveAt.UtcTicks - effectiveAt.UtcTicks % TimeSpan.TicksPerMillisecond, TimeSpan.Zero);
        var body = string.Format(PolicyBody, version, suspended ? "suspended" : "active")[..^1]
            + $",\"effectiveAt\":\"{effectiveAt.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss.fff'Z'}\"}}";
        var start = Now;
        var (status, code, _) = await SendAsync(AnyEdge, new HttpRequestMessage(HttpMethod.Put, $"/v1/stores/{StoreId}/policy") { Content = Json(body) });
        var end = Now;
        var instant = Now + (long)((effectiveAt - DateTimeOffset.UtcNow).TotalSeconds * Stopwatch.Frequency);
        var margin = Stopwatch.Frequency / 500;
        var before = Log.Policy.Possible;
        PolicyState published = new(version, suspended);
        var what = $"schedule {published} at {effectiveAt:HH:mm:ss.fff} -> {(int?)status} {code}";
        Interlocked.Increment(ref _writes);
        if (status is HttpStatusCode.Conflict or HttpStatusCode.UnprocessableEntity)
        {
            // Refused, nothing scheduled (a 409 as for an immediate publish: an earlier failed one was stored after all).
            var after = status == HttpStatusCode.Conflict ? before.Where(p => p.Version >= version).ToHashSet() : [.. before];
            Log.Policy.Add(new(what, start, end, false, false, false, after.Count > 0 ? after : [.. before], []));
            return;
        }

        await Task.Delay(effectiveAt - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1), CancellationToken.None);
        if (status == HttpStatusCode.Accepted)
        {
            Interlocked.Increment(ref _ackedWrites);
            Log.Policy.Add(new(what, instant - margin, instant + margin, true, true, false, [published], [published]));
        }
        else
        {
            Interlocked.Increment(ref _failedWrites);
            var notStored = NotStored(start, end);
            Log.Policy.Add(new(what, instant - margin, instant + margin, false, false, notStored, notStored ? [.. before] : [.. before, published], [published]));
        }
    }

    // ---- checks ---------------------------------------------------------------------------------------------------

    private async Task CheckerAsync(string edge, HttpClient client, CancellationToken stop)
    {
        var subjects = Log.Subjects.Keys.ToArray();
        while (!stop.IsCancellationRequested)
        {
            var subject = subjects[Next(subjects.Length)];
            var start = Now;
            var (status, _, body) = await SendAsync(client, new HttpRequestMessage(HttpMethod.Get, $"/v1/stores/{StoreId}/subjects/{subject}/decisions?purpose=analytics"));
            var end = Now;
            if (status == HttpStatusCode.OK && body?["decisions"]?[0]?["reason"]?.GetValue<string>() is { } reason)
            {
                Log.Checks.Enqueue(new CheckRecord(edge, subject, start, end, reason, body["policyVersion"]?.GetValue<int>()));
            }
            else
            {
                Interlocked.Increment(ref Log.FailedChecks);
                await Task.Delay(50, CancellationToken.None);
            }
        }
    }

    /// <summary>S3 at the end: every subject's stored record and the stored policy are states the history allows.</summary>
    public async Task CheckFinalStateAsync()
    {
        foreach (var (subject, timeline) in Log.Subjects)
        {
            var (status, _, body) = await RetryAsync($"/v1/stores/{StoreId}/subjects/{subject}");
            var state = status == HttpStatusCode.NotFound ? SubjectState.Initial : Observed(body);
            if (state is null || !timeline.Possible.Contains(state.Value))
            {
                Log.Violations.Enqueue($"S3: {subject} is stored as {(state?.ToString() ?? body?.ToJsonString())}, the history allows {string.Join(", ", timeline.Possible)}");
            }
        }

        var (_, _, policy) = await RetryAsync($"/v1/stores/{StoreId}/policy");
        PolicyState? stored = policy?["version"] is { } version
            ? new PolicyState(version.GetValue<int>(), policy["status"]?.GetValue<string>() == "suspended")
            : null;
        if (stored is null || !Log.Policy.Possible.Contains(stored.Value))
        {
            Log.Violations.Enqueue($"S3: the policy is stored as {stored}, the history allows {string.Join(", ", Log.Policy.Possible)}");
        }
    }

    private async Task<(HttpStatusCode?, string?, JsonNode?)> RetryAsync(string path)
    {
        for (var attempt = 0; ; attempt++)
        {
            var answer = await SendAsync(_clients[attempt % _clients.Length], new HttpRequestMessage(HttpMethod.Get, path));
            if (answer.Status is HttpStatusCode.OK or HttpStatusCode.NotFound || attempt >= 60)
            {
                return answer;
            }

            await Task.Delay(500);
        }
    }

    // ---- faults ---------------------------------------------------------------------------------------------------

    private enum Fault
    {
        SiloKill,
        EdgeKill,
        Pause,
        LongSiloPause,
        WriteFailure,
        Partition,
    }

    /// <summary>
    /// One fault at a time, every 1.5-3.5 s, in rounds that hold each kind (write failures and partitions twice) in
    /// a random order: even the short run in CI injects every kind.
    /// </summary>
    private async Task FaultsAsync(CancellationToken stop)
    {
        var round = new List<Fault>();
        var first = true;
        while (!stop.IsCancellationRequested)
        {
            await Task.Delay(1500 + Next(2000), CancellationToken.None);
            if (stop.IsCancellationRequested)
            {
                return;
            }

            if (round.Count == 0)
            {
                round = [Fault.SiloKill, Fault.EdgeKill, Fault.Pause, Fault.LongSiloPause, Fault.WriteFailure, Fault.WriteFailure, Fault.Partition, Fault.Partition];
                lock (_random)
                {
                    _random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(round));
                }

                if (first)
                {
                    // The longest fault first, so that even the short run in CI has it.
                    round.Remove(Fault.LongSiloPause);
                    round.Add(Fault.LongSiloPause);
                    first = false;
                }
            }

            var fault = round[^1];
            round.RemoveAt(round.Count - 1);
            try
            {
                await (fault switch
                {
                    Fault.SiloKill => KillAsync(cluster.Silos, "silo kill -9", 2000 + Next(2000)),
                    Fault.EdgeKill => KillAsync(cluster.Edges, "edge kill -9", 1000 + Next(2000)),
                    Fault.Pause => PauseAsync(stop),
                    Fault.LongSiloPause => PauseSiloPastDeclarationAsync(),
                    Fault.WriteFailure => LockAsync(1000 + Next(2000)),
                    _ => PartitionAsync(2000 + Next(4000)),
                });
            }
            catch (Exception exception)
            {
                Count($"fault injection failed: {exception.GetType().Name}");
            }
        }
    }

    private async Task KillAsync(List<HistoryCluster.Member> members, string kind, int downMs)
    {
        // One of a kind down at a time: the cluster keeps a silo and the clients keep an edge.
        var up = members.Where(m => m.Process is { HasExited: false }).ToList();
        if (up.Count < members.Count)
        {
            return;
        }

        var victim = up[Next(up.Count)];
        var fault = Begin(kind, victim.Name);
        cluster.KillAndHold(victim);
        await Task.Delay(downMs);
        cluster.Release(victim);
        End(fault);
    }

    /// <summary>
    /// A silo stopped for longer than the cluster takes to declare it dead (Orleans 10 waits until it has heard nothing
    /// from it for its monitoring window, 8 s here): its grains are activated on the other silo while it keeps its
    /// own, which it must not answer from when it resumes (the membership fence).
    /// </summary>
    private async Task PauseSiloPastDeclarationAsync()
    {
        var up = cluster.Silos.Where(m => m.Process is { HasExited: false }).ToList();
        if (up.Count < cluster.Silos.Count)
        {
            return;
        }

        var victim = up[Next(up.Count)];
        var fault = Begin("silo SIGSTOP past its death declaration", victim.Name);
        victim.Process!.Pause();
        await Task.Delay(11_000 + Next(3_000));
        victim.Process.Resume();
        End(fault);
    }

    private async Task PauseAsync(CancellationToken stop)
    {
        var members = cluster.Members.Where(m => m.Process is { HasExited: false }).ToList();
        var victim = members[Next(members.Count)];
        var silo = cluster.Silos.Contains(victim);
        var fault = Begin(silo ? "silo SIGSTOP/SIGCONT" : "edge SIGSTOP/SIGCONT", victim.Name);
        victim.Process!.Pause();
        await Task.Delay(1000 + Next(silo ? 3000 : 6000));
        victim.Process.Resume();
        End(fault);
    }

    private async Task LockAsync(int holdMs)
    {
        // Not in the list of faults: the window it leaves is what NotStored is about.
        Count("PostgreSQL write failure (table locked, blocked writers terminated)");
        await using var connection = new NpgsqlConnection(cluster.Postgres.ConnectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var lockTable = new NpgsqlCommand("LOCK TABLE consentgrainstate IN EXCLUSIVE MODE", connection, transaction))
        {
            await lockTable.ExecuteNonQueryAsync();
        }

        var acquired = Now;
        // Open while held: a write judged meanwhile has been answered before the release.
        lock (_faults)
        {
            _lockWindows.Add((acquired, long.MaxValue));
        }

        var until = acquired + Stopwatch.Frequency * holdMs / 1000;
        while (Now < until)
        {
            await using var terminate = new NpgsqlCommand(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
                connection, transaction);
            await terminate.ExecuteScalarAsync();
            await Task.Delay(100);
        }

        lock (_faults)
        {
            _lockWindows[_lockWindows.IndexOf((acquired, long.MaxValue))] = (acquired, Now);
        }

        await transaction.RollbackAsync();
    }

    private async Task PartitionAsync(int holdMs)
    {
        var nodes = cluster.Members.Select(m => m.Node).Append(cluster.Database).ToList();
        var a = nodes[Next(nodes.Count)];
        var b = nodes[Next(nodes.Count)];
        if (a == b || (cluster.Edges.Any(e => e.Node == a) && cluster.Edges.Any(e => e.Node == b)))
        {
            return;
        }

        var fault = Begin("partition", $"{a.Name} | {b.Name}");
        await cluster.Lab.PartitionAsync(a, b);
        await Task.Delay(holdMs);
        await cluster.Lab.HealAsync();
        End(fault);
    }

    /// <summary>A fault of <paramref name="kind"/> starts on <paramref name="target"/> (named in the timeline only).</summary>
    private (long Start, long? End) Begin(string kind, string target)
    {
        Count(kind);
        var fault = (Now, (long?)null);
        lock (_faults)
        {
            _faults.Add(fault);
            _timeline.Add(($"{kind}: {target}", fault.Item1));
        }

        return fault;
    }

    /// <summary>
    /// For a failure message: the faults, the store's publishes and <paramref name="subject"/>'s writes, in seconds
    /// (Stopwatch time).
    /// </summary>
    public string Describe(string subject)
    {
        static string S(long t) => (t / (double)Stopwatch.Frequency).ToString("F3", System.Globalization.CultureInfo.InvariantCulture);
        var lines = new List<(long At, string Line)>();
        lock (_faults)
        {
            lines.AddRange(_timeline.Select(f => (f.At, $"{S(f.At)} fault: {f.Kind}")));
            lines.AddRange(_faults.Where(f => f.End is not null).Select(f => (f.End!.Value, $"{S(f.End!.Value)} fault ends (+1 s grace)")));
            lines.AddRange(_lockWindows.Select(w => (w.Acquired, $"{S(w.Acquired)}-{S(w.Released)} consent table locked")));
        }

        void Add<TState>(string who, Timeline<TState> writes) where TState : struct => lines.AddRange(writes.Events.Select(e => (e.Start,
            $"{S(e.Start)}-{S(e.End)} {who}: {e.What} {(e.Acked ? "acked" : "failed")}{(e.NotStored ? " (not stored)" : "")} -> {string.Join(" | ", e.After)}")));
        Add("store", Log.Policy);
        if (Log.Subjects.TryGetValue(subject, out var writes))
        {
            Add(subject, writes);
        }

        return string.Join("\n", lines.OrderBy(l => l.At).Select(l => l.Line));
    }

    /// <summary>
    /// The fault is over; it counts for a second more. (What it leaves behind cannot commit a write inside a lock
    /// window: a killed process is gone, a resumed one finds the table locked, a healed connection finds its backend
    /// terminated.)
    /// </summary>
    private void End((long Start, long? End) fault, int graceMs = 1000)
    {
        lock (_faults)
        {
            var at = _faults.IndexOf(fault);
            if (at >= 0)
            {
                _faults[at] = (fault.Start, Now + Stopwatch.Frequency * graceMs / 1000);
            }
        }
    }

    private void Count(string kind)
    {
        lock (Injected)
        {
            Injected[kind] = Injected.GetValueOrDefault(kind) + 1;
        }
    }

    // ---- HTTP -----------------------------------------------------------------------------------------------------

    private static StringContent Json(string body) => new(body, System.Text.Encoding.UTF8, "application/json");

    private static async Task<(HttpStatusCode? Status, string? Code, JsonNode? Body)> SendAsync(HttpClient client, HttpRequestMessage request)
    {
        try
        {
            using var response = await client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            JsonNode? body = null;
            try
            {
                body = text.Length > 0 ? JsonNode.Parse(text) : null;
            }
            catch (System.Text.Json.JsonException)
            {
            }

            return (response.StatusCode, body?["code"]?.GetValue<string>(), body);
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException or IOException)
        {
            return (null, null, null);
        }
        finally
        {
            request.Dispose();
        }
    }
}
