using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Faults;

/// <summary>
/// Two silo processes and two edge API processes on one Redis and a fresh PostgreSQL database. Sixteen
/// writers record grants and withdrawals through both edges while checkers ask for decisions; one silo is
/// killed with SIGKILL five times (each time the oldest, which holds most activations, and a replacement is
/// started once the cluster has recovered). Afterwards every subject is read back: no acknowledged write
/// may be missing, the latest acknowledged choice must be the stored one, and no check that started after
/// an acknowledged withdrawal (before the subject's next write was sent) may have answered allowed.
/// Recovery (reported, not asserted) is measured by independent probes: from the SIGKILL until 20
/// consecutive successful writes and checks on each edge, of subjects activated before the kills.
/// </summary>
[Collection("faults")]
public sealed class KillSiloDuringWritesTests(ITestOutputHelper output)
{
    private const string Store = "faults-kill";
    private const int Writers = 16;
    private const int SubjectsPerWriter = 8;
    private const int Checkers = 8;
    private const int Kills = 5;
    private const int TargetWrites = 12_000;
    private const int MinimumAcknowledged = 10_000;
    private const int RecoveryStreak = 20;
    private const int ProbeSubjects = 64;
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromMilliseconds(50);
    /// <summary>Probes wait longer than Orleans' 30 s response timeout, to see how a request in flight ends.</summary>
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(40);
    /// <summary>The load generators' clients give up as a storefront would.</summary>
    private static readonly TimeSpan LoadTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan LoadBeforeFirstKill = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan LoadBetweenKills = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan RecoveryCap = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan TimeBound = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan HardTimeBound = TimeSpan.FromSeconds(180);
    private static readonly string[] Sources = ["banner", "account_settings", "api", "import"];

    private enum Kind
    {
        Write,
        Check,
    }

    private sealed record WriteRecord(int Sequence, long SentAt, long EndedAt, int Status, int Edge)
    {
        public bool Acknowledged => Status == 200;

        public int Code => Sequence % 32;

        public bool Granted => Decode(Code).Granted;
    }

    private sealed record CheckRecord(long StartedAt, long EndedAt, int Status, bool Allowed, int Edge);

    private sealed record Operation(Kind Kind, int Edge, long StartedAt, long EndedAt, int Status)
    {
        public bool Succeeded => Status == 200;
    }

    /// <summary>One subject: written by one writer only, one write at a time, so acknowledgement order is send order.</summary>
    private sealed class SubjectLog(string id)
    {
        public string Id { get; } = id;

        public List<WriteRecord> Writes { get; } = [];

        public List<CheckRecord> Checks { get; } = [];
    }

    [Fact]
    public async Task Acknowledged_writes_survive_killed_silos_and_no_stale_allow_is_served()
    {
        var redis = ServiceProcess.RedisOrFail();
        await using var database = await TestDatabase.PostgresAsync();
        await using var cluster = new FaultCluster(redis, database.ConnectionString);
        await cluster.RunAsync(() => Run(cluster));
    }

    private async Task Run(FaultCluster cluster)
    {
        var silos = new List<ServiceProcess> { await cluster.StartSiloAsync(), await cluster.StartSiloAsync() };
        FaultCluster.Edge[] edges = [await cluster.StartEdgeAsync(), await cluster.StartEdgeAsync()];
        HttpClient[] clients = [FaultCluster.Client(edges[0].Url, LoadTimeout), FaultCluster.Client(edges[1].Url, LoadTimeout)];
        HttpClient[] probeClients = [FaultCluster.Client(edges[0].Url, ProbeTimeout), FaultCluster.Client(edges[1].Url, ProbeTimeout)];
        await (await clients[0].PublishPolicyAsync(Store, 1)).ShouldBeOkAsync();
        for (var i = 0; i < ProbeSubjects; i++)
        {
            // Activated before the first kill, on both silos.
            await (await clients[i % 2].SetConsentAsync(Store, $"probe-{i}", "analytics", true)).ShouldBeOkAsync();
        }

        var subjects = new ConcurrentBag<SubjectLog>();
        var slots = new SubjectLog[Writers * SubjectsPerWriter];
        for (var i = 0; i < slots.Length; i++)
        {
            slots[i] = new SubjectLog($"w{i / SubjectsPerWriter}-{i % SubjectsPerWriter}-g0");
            subjects.Add(slots[i]);
        }

        var operations = new ConcurrentQueue<Operation>();
        var tracker = new RecoveryTracker();
        var probes = new ConcurrentQueue<Operation>();
        var probeTracker = new RecoveryTracker();
        var probesInFlight = new ConcurrentBag<Task>();
        long acknowledged = 0;
        var stop = false;
        var loadStarted = Clock.Now;

        async Task Writer(int writer)
        {
            var generation = 0;
            for (var n = 0; !Volatile.Read(ref stop); n++)
            {
                var slot = writer * SubjectsPerWriter + n % SubjectsPerWriter;
                var subject = Volatile.Read(ref slots[slot]);
                var sequence = subject.Writes.Count;
                var edge = (writer + n) & 1;
                var (granted, source, dnt, gpc) = Decode(sequence % 32);
                var sentAt = Clock.Now;
                var status = await Send(() => clients[edge].SetConsentAsync(Store, subject.Id, "analytics", granted, 1, source, dnt, gpc));
                var write = new WriteRecord(sequence, sentAt, Clock.Now, status, edge);
                lock (subject)
                {
                    subject.Writes.Add(write);
                }

                var operation = new Operation(Kind.Write, edge, sentAt, write.EndedAt, status);
                operations.Enqueue(operation);
                tracker.Record(operation);
                if (write.Acknowledged)
                {
                    Interlocked.Increment(ref acknowledged);
                }
                else
                {
                    // An unacknowledged write may still be carried out later: the subject is not written again,
                    // so the verifier knows its last write may or may not be stored. The writer goes on with a new one.
                    var fresh = new SubjectLog($"w{writer}-{slot % SubjectsPerWriter}-g{++generation}");
                    subjects.Add(fresh);
                    Volatile.Write(ref slots[slot], fresh);
                }
            }
        }

        async Task Checker(int checker)
        {
            var random = new Random(checker);
            for (var n = 0; !Volatile.Read(ref stop); n++)
            {
                var subject = Volatile.Read(ref slots[random.Next(slots.Length)]);
                var edge = (checker + n) & 1;
                var startedAt = Clock.Now;
                var allowed = false;
                var status = await Send(async () =>
                {
                    var response = await clients[edge].GetAsync($"/v1/stores/{Store}/subjects/{subject.Id}/decisions?purpose=analytics");
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        allowed = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["decisions"]![0]!["allowed"]!.GetValue<bool>();
                    }

                    return response;
                });
                var check = new CheckRecord(startedAt, Clock.Now, status, allowed, edge);
                lock (subject)
                {
                    subject.Checks.Add(check);
                }

                var operation = new Operation(Kind.Check, edge, startedAt, check.EndedAt, status);
                operations.Enqueue(operation);
                tracker.Record(operation);
            }
        }

        // Probes: every 50 ms per edge and kind, one write or check of a subject activated before the kills,
        // never waiting for each other, so a request that hangs does not hold the next one back.
        async Task Prober(int edge, Kind kind)
        {
            var random = new Random(edge * 2 + (int)kind + 100);
            while (!Volatile.Read(ref stop))
            {
                var subject = $"probe-{random.Next(ProbeSubjects)}";
                var granted = random.Next(2) == 0;
                probesInFlight.Add(Task.Run(async () =>
                {
                    var startedAt = Clock.Now;
                    var status = await Send(() => kind == Kind.Write
                        ? probeClients[edge].SetConsentAsync(Store, subject, "analytics", granted)
                        : probeClients[edge].GetAsync($"/v1/stores/{Store}/subjects/{subject}/decisions?purpose=analytics"));
                    var operation = new Operation(kind, edge, startedAt, Clock.Now, status);
                    probes.Enqueue(operation);
                    probeTracker.Record(operation);
                }));
                await Task.Delay(ProbeInterval);
            }
        }

        var load = Enumerable.Range(0, Writers).Select(w => Task.Run(() => Writer(w)))
            .Concat(Enumerable.Range(0, Checkers).Select(c => Task.Run(() => Checker(c))))
            .Concat(new[] { Kind.Write, Kind.Check }.SelectMany(kind => new[] { 0, 1 }.Select(edge => Task.Run(() => Prober(edge, kind)))))
            .ToArray();

        var kills = new List<long>();
        var joins = new List<long>();
        try
        {
            await Task.Delay(LoadBeforeFirstKill);
            for (var k = 0; k < Kills; k++)
            {
                var victim = silos[0];
                var killedAt = Clock.Now;
                tracker.Reset(killedAt);
                probeTracker.Reset(killedAt);
                victim.Kill();
                kills.Add(killedAt);
                silos.RemoveAt(0);

                // The replacement is started once the probes are served again (so that it does not take part in
                // the measured recovery), and joins while the load generators are still recovering.
                await WaitRecovered(probeTracker, killedAt);
                var replacement = cluster.StartSiloAsync();
                await WaitRecovered(tracker, killedAt);
                output.WriteLine($"kill #{k + 1} at {Clock.Seconds(loadStarted, killedAt):F1} s: online estimates: probes " +
                    Format(probeTracker.Recovered ? Clock.Seconds(killedAt, probeTracker.RecoveredAt) : double.PositiveInfinity) + ", load generators " +
                    Format(tracker.Recovered ? Clock.Seconds(killedAt, tracker.RecoveredAt) : double.PositiveInfinity) +
                    $"; acknowledged so far {Interlocked.Read(ref acknowledged)}");
                await victim.DisposeAsync();
                silos.Add(await replacement);
                joins.Add(Clock.Now);
                await Task.Delay(LoadBetweenKills);
            }

            while (true)
            {
                var elapsed = TimeSpan.FromSeconds(Clock.Seconds(loadStarted, Clock.Now));
                var count = Interlocked.Read(ref acknowledged);
                if (count >= TargetWrites || (elapsed >= TimeBound && count >= MinimumAcknowledged) || elapsed >= HardTimeBound)
                {
                    break;
                }

                await Task.Delay(100);
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            await Task.WhenAll(load);
            await Task.WhenAll(probesInFlight);
        }

        var loadSeconds = Clock.Seconds(loadStarted, Clock.Now);

        // ---- Verification: every subject read back through the admin API. ----
        var allSubjects = subjects.Where(s => s.Writes.Count > 0).ToList();
        var stored = new ConcurrentDictionary<string, JsonNode?>();
        var reader = FaultCluster.Client(edges[1].Url, TimeSpan.FromSeconds(15));
        await Parallel.ForEachAsync(allSubjects, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (subject, _) =>
        {
            stored[subject.Id] = await ReadRecord(reader, subject.Id);
        });

        long acked = 0, attempted = 0, lost = 0, latestMismatch = 0, sequenceMismatch = 0, unacknowledgedStored = 0;
        var problems = new List<string>();
        foreach (var subject in allSubjects)
        {
            var writes = subject.Writes;
            attempted += writes.Count;
            var acknowledgedWrites = writes.Where(w => w.Acknowledged).ToList();
            acked += acknowledgedWrites.Count;
            Assert.True(writes.Take(writes.Count - 1).All(w => w.Acknowledged), $"{subject.Id}: only the last write may be unacknowledged");
            var trailing = writes[^1].Acknowledged ? null : writes[^1];

            var record = stored[subject.Id];
            var receipts = record?["receipts"]?.AsArray()
                .Where(r => r!["purpose"]!.GetValue<string>() == "analytics")
                .Select(r => Encode(r!["granted"]!.GetValue<bool>(), r["source"]!.GetValue<string>(), r["dnt"]!.GetValue<bool>(), r["gpc"]!.GetValue<bool>()))
                .ToList() ?? [];
            var expected = acknowledgedWrites.Select(w => w.Code).ToList();

            // Acknowledged writes present in order (a greedy subsequence match).
            var matched = 0;
            foreach (var code in receipts)
            {
                if (matched < expected.Count && expected[matched] == code)
                {
                    matched++;
                }
            }

            var missing = expected.Count - matched;
            lost += missing;
            var exact = receipts.SequenceEqual(expected);
            var withTrailing = trailing is not null && receipts.SequenceEqual(expected.Append(trailing.Code));
            if (withTrailing)
            {
                unacknowledgedStored++;
            }

            if (!exact && !withTrailing)
            {
                sequenceMismatch++;
            }

            bool? storedGranted = record?["consents"]?["analytics"]?["granted"]?.GetValue<bool>();
            var latestOk = acknowledgedWrites.Count == 0
                ? storedGranted is null || (trailing is not null && storedGranted == trailing.Granted)
                : storedGranted == acknowledgedWrites[^1].Granted || (withTrailing && storedGranted == trailing!.Granted);
            if (!latestOk)
            {
                latestMismatch++;
            }

            if ((missing > 0 || !latestOk || (!exact && !withTrailing)) && problems.Count < 10)
            {
                problems.Add($"{subject.Id}: acknowledged codes [{string.Join(',', expected)}]" +
                    (trailing is null ? "" : $" then unacknowledged {trailing.Code} ({trailing.Status})") +
                    $", stored receipts [{string.Join(',', receipts)}], stored latest {storedGranted?.ToString() ?? "none"}, receipts >= acknowledged: {receipts.Count >= expected.Count}");
            }
        }

        // ---- Stale allows: checks entirely inside a window where only an acknowledged withdrawal was in effect. ----
        long checks = 0, mustBeDenied = 0, staleAllows = 0;
        var checkStatuses = new SortedDictionary<int, long>();
        var staleExamples = new List<string>();
        foreach (var subject in subjects)
        {
            foreach (var check in subject.Checks)
            {
                checks++;
                checkStatuses[check.Status] = checkStatuses.GetValueOrDefault(check.Status) + 1;
                if (check.Status != 200 || !MustBeDenied(check, subject.Writes))
                {
                    continue;
                }

                mustBeDenied++;
                if (check.Allowed)
                {
                    staleAllows++;
                    if (staleExamples.Count < 10)
                    {
                        staleExamples.Add($"{subject.Id}: check on edge{check.Edge + 1} started {Clock.Seconds(loadStarted, check.StartedAt):F3} s answered allowed");
                    }
                }
            }
        }

        var writeStatuses = new SortedDictionary<int, long>();
        foreach (var operation in operations.Where(o => o.Kind == Kind.Write))
        {
            writeStatuses[operation.Status] = writeStatuses.GetValueOrDefault(operation.Status) + 1;
        }

        // ---- Recovery: from each kill until 20 consecutive successful writes and checks on each edge. ----
        var all = operations.ToArray();
        var allProbes = probes.ToArray();
        var recoveries = new List<double>();
        var loadRecoveries = new List<double>();
        for (var k = 0; k < kills.Count; k++)
        {
            var from = kills[k];
            var until = k + 1 < kills.Count ? kills[k + 1] : long.MaxValue;
            var window = allProbes.Where(o => o.StartedAt >= from && o.StartedAt < until).ToArray();
            var loadWindow = all.Where(o => o.StartedAt >= from && o.StartedAt < until).ToArray();
            recoveries.Add(RecoverySeconds(window, from));
            loadRecoveries.Add(RecoverySeconds(loadWindow, from));
            var failed = window.Where(o => !o.Succeeded).ToList();
            var lastFailedStart = failed.Count == 0 ? 0 : failed.Max(o => Clock.Seconds(from, o.StartedAt));
            var longestFailure = failed.Count == 0 ? 0 : failed.Max(o => Clock.Seconds(o.StartedAt, o.EndedAt));
            var hung = window.Where(o => Clock.Seconds(o.StartedAt, o.EndedAt) > 5).ToList();
            output.WriteLine($"RECOVERY: kill #{k + 1}: probes {Format(recoveries[^1])}, load generators {Format(loadRecoveries[^1])}; " +
                $"{failed.Count} of {window.Length} probes failed {Histogram(Statuses(failed))}, the last one started {lastFailedStart:F2} s after the kill; " +
                $"{hung.Count} probes took over 5 s (longest {(hung.Count == 0 ? 0 : hung.Max(o => Clock.Seconds(o.StartedAt, o.EndedAt))):F1} s, " +
                $"answered {Histogram(Statuses(hung))}); longest failed probe {longestFailure:F1} s");
            var late = double.IsInfinity(recoveries[^1]) ? [] : failed.Where(o => Clock.Seconds(from, o.StartedAt) > recoveries[^1]).ToList();
            output.WriteLine($"   kill #{k + 1}: replacement silo active {(k < joins.Count ? Clock.Seconds(from, joins[k]) : double.NaN):F1} s after the kill; " +
                $"{late.Count} probes failed after the recovery point" + (late.Count == 0 ? "" :
                    $", started at {string.Join(", ", late.Take(8).Select(o => $"+{Clock.Seconds(from, o.StartedAt):F2} s ({o.Status}, {o.Kind} on edge{o.Edge + 1})"))}"));
        }

        var median = Median(recoveries);
        output.WriteLine($"RECOVERY: median of {recoveries.Count} silo kills = {Format(median)} " +
            $"(each: {string.Join(", ", recoveries.Select(Format))}; from SIGKILL until {RecoveryStreak} consecutive successful writes and checks on each edge, " +
            $"measured with independent probes every {ProbeInterval.TotalMilliseconds:F0} ms per edge and kind on {ProbeSubjects} subjects activated before the kills)");
        output.WriteLine($"RECOVERY: load generators (16 writers + 8 checkers, client timeout {LoadTimeout.TotalSeconds:F0} s, blocked while a request hangs): " +
            $"median {Format(Median(loadRecoveries))} (each: {string.Join(", ", loadRecoveries.Select(Format))})");
        output.WriteLine($"WRITES: acknowledged={acked} attempted={attempted} unacknowledged={attempted - acked} lost={lost} " +
            $"latest-mismatch={latestMismatch} receipt-sequence-mismatch={sequenceMismatch} unacknowledged-but-stored={unacknowledgedStored} " +
            $"subjects={allSubjects.Count} load={loadSeconds:F1} s ({acked / loadSeconds:F0} acknowledged/s) statuses {Histogram(writeStatuses)}");
        output.WriteLine($"CHECKS: total={checks} statuses {Histogram(checkStatuses)} must-be-denied={mustBeDenied} stale-allows={staleAllows}");
        if (acked < MinimumAcknowledged)
        {
            output.WriteLine($"WRITES: this machine acknowledged only {acked} writes within the {HardTimeBound.TotalSeconds} s bound (target {MinimumAcknowledged}).");
        }

        foreach (var problem in problems.Concat(staleExamples))
        {
            output.WriteLine("  " + problem);
        }

        Assert.True(lost == 0, $"{lost} acknowledged writes are not stored:\n{string.Join('\n', problems)}");
        Assert.True(latestMismatch == 0, $"{latestMismatch} subjects do not store their latest acknowledged choice:\n{string.Join('\n', problems)}");
        Assert.True(staleAllows == 0, $"{staleAllows} checks answered allowed after an acknowledged withdrawal:\n{string.Join('\n', staleExamples)}");
        Assert.True(mustBeDenied > 1000, $"the test must exercise the withdrawal window ({mustBeDenied} checks did)");
        var badCheckStatuses = checkStatuses.Where(s => s.Key is not (200 or 503 or 0 or -1)).ToList();
        Assert.True(badCheckStatuses.Count == 0, $"checks must answer a decision or 503, got {Histogram(checkStatuses)}");
        var badWriteStatuses = writeStatuses.Where(s => s.Key is >= 400 and < 500).ToList();
        Assert.True(badWriteStatuses.Count == 0, $"valid writes must never answer 4xx, got {Histogram(writeStatuses)}");
        Assert.True(recoveries.All(r => r <= RecoveryCap.TotalSeconds), $"every kill must be recovered from within {RecoveryCap.TotalSeconds} s: {string.Join(", ", recoveries.Select(Format))}");
        Assert.True(acked >= MinimumAcknowledged, $"only {acked} writes were acknowledged within {HardTimeBound.TotalSeconds} s (need {MinimumAcknowledged})");
    }

    private static async Task WaitRecovered(RecoveryTracker tracker, long killedAt)
    {
        while (!tracker.Recovered && Clock.Seconds(killedAt, Clock.Now) < RecoveryCap.TotalSeconds)
        {
            await Task.Delay(50);
        }
    }

    private static SortedDictionary<int, long> Statuses(IEnumerable<Operation> operations)
    {
        var statuses = new SortedDictionary<int, long>();
        foreach (var operation in operations)
        {
            statuses[operation.Status] = statuses.GetValueOrDefault(operation.Status) + 1;
        }

        return statuses;
    }

    /// <summary>Status of a request: the HTTP status, 0 for a connection failure, -1 for a timeout.</summary>
    private static async Task<int> Send(Func<Task<HttpResponseMessage>> request)
    {
        try
        {
            using var response = await request();
            return (int)response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return 0;
        }
        catch (TaskCanceledException)
        {
            return -1;
        }
    }

    private static async Task<JsonNode?> ReadRecord(HttpClient client, string subjectId)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var response = await client.GetAsync($"/v1/stores/{Store}/subjects/{subjectId}");
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    return null;
                }

                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return JsonNode.Parse(await response.Content.ReadAsStringAsync());
                }

                if (attempt >= 20)
                {
                    throw new InvalidOperationException($"Reading {subjectId} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                }
            }
            catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException && attempt < 20)
            {
            }

            await Task.Delay(500);
        }
    }

    /// <summary>
    /// The subject's last write sent before the check started was a withdrawal acknowledged before it
    /// started, and its next write was not sent before the check ended.
    /// </summary>
    private static bool MustBeDenied(CheckRecord check, List<WriteRecord> writes)
    {
        var last = writes.FindLastIndex(w => w.SentAt < check.StartedAt);
        return last >= 0
            && writes[last] is { Acknowledged: true, Granted: false } withdrawal && withdrawal.EndedAt < check.StartedAt
            && (last + 1 == writes.Count || writes[last + 1].SentAt > check.EndedAt);
    }

    /// <summary>
    /// For each edge and kind, the first run of <see cref="RecoveryStreak"/> consecutive successes (in start
    /// order) among requests started after the kill; recovered when the last of the four runs completed.
    /// </summary>
    private static double RecoverySeconds(Operation[] window, long killedAt)
    {
        long recoveredAt = killedAt;
        foreach (var kind in new[] { Kind.Write, Kind.Check })
        {
            foreach (var edge in new[] { 0, 1 })
            {
                var series = window.Where(o => o.Kind == kind && o.Edge == edge).OrderBy(o => o.StartedAt).ToArray();
                var run = 0;
                long? reached = null;
                for (var i = 0; i < series.Length && reached is null; i++)
                {
                    run = series[i].Succeeded ? run + 1 : 0;
                    if (run == RecoveryStreak)
                    {
                        reached = series.Skip(i - RecoveryStreak + 1).Take(RecoveryStreak).Max(o => o.EndedAt);
                    }
                }

                if (reached is null)
                {
                    return double.PositiveInfinity;
                }

                recoveredAt = Math.Max(recoveredAt, reached.Value);
            }
        }

        return Clock.Seconds(killedAt, recoveredAt);
    }

    /// <summary>Each write's choice and signals follow from its sequence number, so a receipt names its write.</summary>
    private static (bool Granted, string Source, bool Dnt, bool Gpc) Decode(int code) =>
        ((code & 1) == 0, Sources[(code >> 1) & 3], ((code >> 3) & 1) == 1, ((code >> 4) & 1) == 1);

    private static int Encode(bool granted, string source, bool dnt, bool gpc) =>
        (granted ? 0 : 1) | (Array.IndexOf(Sources, source) << 1) | ((dnt ? 1 : 0) << 3) | ((gpc ? 1 : 0) << 4);

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted.Count == 0 ? double.NaN
            : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string Format(double seconds) => double.IsInfinity(seconds) ? "not recovered" : $"{seconds:F2} s";

    private static string Histogram(SortedDictionary<int, long> statuses) =>
        "{" + string.Join(", ", statuses.Select(s => $"{(s.Key switch { 0 => "connection-failed", -1 => "timeout", _ => s.Key.ToString() })}: {s.Value}")) + "}";

    /// <summary>Online: consecutive successes per edge and kind among requests started after the current kill.</summary>
    private sealed class RecoveryTracker
    {
        private readonly int[] _runs = new int[4];
        private long _since = long.MaxValue;
        private long _recoveredAt;

        public bool Recovered => Interlocked.Read(ref _recoveredAt) != 0;

        public long RecoveredAt => Interlocked.Read(ref _recoveredAt);

        public void Reset(long since)
        {
            lock (_runs)
            {
                Array.Clear(_runs);
                _since = since;
                _recoveredAt = 0;
            }
        }

        public void Record(Operation operation)
        {
            lock (_runs)
            {
                if (operation.StartedAt < _since || _recoveredAt != 0)
                {
                    return;
                }

                var index = (operation.Kind == Kind.Write ? 0 : 2) + operation.Edge;
                _runs[index] = operation.Succeeded ? _runs[index] + 1 : 0;
                if (_runs.All(r => r >= RecoveryStreak))
                {
                    _recoveredAt = operation.EndedAt;
                }
            }
        }
    }
}
