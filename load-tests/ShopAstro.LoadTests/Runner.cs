using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Npgsql;

namespace ShopAstro.LoadTests;

public sealed record RunOptions(
    Profile Profile, string RepositoryRoot, string SiloDll, string EdgeDll, string HarnessDll, string OutputFolder,
    string PostgresAdmin, string Redis, bool KeepDatabase, string Command);

/// <summary>
/// The whole run: the operator topology (one silo process and one edge API process, PostgreSQL storage, Redis
/// membership), every scenario with its ceiling, then the report. Everything it starts it stops.
/// </summary>
public sealed class Runner(RunOptions options)
{
    private const string StorefrontToken = "lt-storefront-token-7f3a";
    private const string AdminToken = "lt-admin-token-91bc";
    private readonly Profile _profile = options.Profile;
    private readonly KeySpace _keys = new(options.Profile.Subjects, options.Profile.Stores);
    private readonly RunReport _report = new();
    private readonly string _stamp = DateTime.UtcNow.ToString("yyyyMMddHHmmss");
    private readonly string _anonymisationKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    private readonly List<ServiceProcess> _started = [];
    private CpuSampler _cpu = null!;
    private ServiceProcess? _silo;
    private ServiceProcess? _edge;
    private ServiceProcess? _ceiling;
    private string _edgeUrl = "";
    private string _ceilingUrl = "";
    private string _database = "";
    private string _consentConnection = "";
    private string _logs = "";

    // Carried between scenarios.
    private double _writesPerSecond;
    private double _saturation;
    private double _ceilingRps;
    private double _ceilingP99;
    private double _dictionaryLookups;
    private double _pgCeilingRate;
    private double _batchDistinct;
    private IReadOnlyList<(int Pid, string Command, double CpuSeconds)> _otherProcesses = [];

    public async Task<int> RunAsync()
    {
        // Interrupted (Ctrl-C, run.sh's trap): end what this run started, then let the default handling exit.
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => KillStarted());
        using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => KillStarted());
        _report.Profile = _profile.Name;
        _report.Command = options.Command;
        _report.StartedAt = DateTimeOffset.UtcNow;
        _report.LoadAverageBefore = LoadAverage();
        _report.Machine = await MachineAsync();
        _logs = Path.Combine(Path.GetDirectoryName(options.HarnessDll)!, "..", "logs", _stamp);
        Directory.CreateDirectory(_logs);
        _logs = Path.GetFullPath(_logs);
        await using (_cpu = new CpuSampler())
        {
            _cpu.Track("harness", Environment.ProcessId);
            _cpu.Track("postgres", () => CpuSampler.PostgresPids(PostgresPort(), _database));
            var redisPort = options.Redis.Split(':').Last();
            _cpu.Track("redis", () => CpuSampler.PidsByCommand("redis-server", ":" + redisPort));
            _cpu.Track("wrk", () => CpuSampler.PidsByCommand("wrk"));
            _cpu.Track("dotnet-trace", () => CpuSampler.PidsByCommand("dotnet-trace"));
            try
            {
                await CreateDatabaseAsync();
                await StartClusterAsync();
                await Step("policies", PublishPoliciesAsync);
                await Step("idle baseline", IdleBaselineAsync);
                await Step("durable writes", DurableWritesAsync);
                await Step("single check", SingleCheckAsync);
                await Step("open-loop sweep", SweepAsync);
                await Step("batch", BatchAsync);
                await Step("write-to-SignalR", FeedAsync);
            }
            catch (Exception e)
            {
                _report.Failures.Add($"run aborted: {e.GetType().Name}: {e.Message}");
                Console.Error.WriteLine(e);
            }
            finally
            {
                await StopAllAsync();
            }

            // The in-process measurement runs alone, after the cluster is stopped.
            await Step("memory per grain", MemoryAsync);
            await DropDatabaseAsync();
        }

        await ReportProfilesAsync();
        _report.LoadAverageAfter = LoadAverage();
        _report.FinishedAt = DateTimeOffset.UtcNow;
        _otherProcesses = _cpu.TopOthers(8);
        Diagnose();
        _report.Notes.Add($"Process logs of this run (not committed): {_logs}");
        await _report.WriteAsync(options.OutputFolder);
        Console.WriteLine(File.ReadAllText(Path.Combine(options.OutputFolder, "report.md")));
        return _report.Failures.Count == 0 ? 0 : 2;
    }

    private async Task Step(string name, Func<Task> step)
    {
        Console.WriteLine($"[{_cpu.Now,6:0.0}s] {name} ...");
        try
        {
            await step();
        }
        catch (Exception e)
        {
            _report.Failures.Add($"{name}: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
            Console.Error.WriteLine($"{name} failed: {e}");
            if (_edge is { HasExited: true } || _silo is { HasExited: true })
            {
                throw;
            }
        }
    }

    // ---------------------------------------------------------------- topology

    private int PostgresPort() => new NpgsqlConnectionStringBuilder(options.PostgresAdmin).Port;

    private async Task CreateDatabaseAsync()
    {
        _database = "shopastro_load_" + _stamp;
        await using (var admin = new NpgsqlConnection(options.PostgresAdmin))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {_database}", admin);
            await create.ExecuteNonQueryAsync();
            await using var version = new NpgsqlCommand("SHOW server_version", admin);
            _report.Machine["postgresql"] = (string)(await version.ExecuteScalarAsync())!;
            foreach (var setting in new[] { "synchronous_commit", "fsync", "shared_buffers", "max_connections" })
            {
                await using var show = new NpgsqlCommand($"SHOW {setting}", admin);
                _report.Machine["postgresql"] += $", {setting}={await show.ExecuteScalarAsync()}";
            }
        }

        _consentConnection = new NpgsqlConnectionStringBuilder(options.PostgresAdmin) { Database = _database }.ConnectionString;
        Console.WriteLine($"database {_database} created");
    }

    private async Task DropDatabaseAsync()
    {
        if (options.KeepDatabase || _database.Length == 0)
        {
            return;
        }

        try
        {
            NpgsqlConnection.ClearAllPools();
            await using var admin = new NpgsqlConnection(options.PostgresAdmin);
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }
        catch (Exception e)
        {
            _report.Notes.Add($"could not drop database {_database}: {e.Message}");
        }
    }

    private Dictionary<string, string> ClusterSettings(Dictionary<string, string> extra)
    {
        extra["ConnectionStrings__Redis"] = options.Redis;
        extra["ConnectionStrings__Consent"] = _consentConnection;
        extra["Orleans__ClusterId"] = "load-" + _stamp;
        extra["Consent__AnonymisationKey"] = _anonymisationKey;
        return extra;
    }

    private ServiceProcess StartSilo(string log)
    {
        var silo = ServiceProcess.Start("silo", options.SiloDll, ClusterSettings(new()
        {
            ["Orleans__SiloPort"] = ServiceProcess.FreePort().ToString(),
            ["Orleans__GatewayPort"] = ServiceProcess.FreePort().ToString(),
        }), Path.Combine(_logs, log));
        _started.Add(silo);
        return silo;
    }

    private async Task StartClusterAsync()
    {
        _silo = StartSilo("silo.log");
        _edgeUrl = $"http://127.0.0.1:{ServiceProcess.FreePort()}";
        _edge = ServiceProcess.Start("edge", options.EdgeDll, ClusterSettings(new()
        {
            ["ASPNETCORE_URLS"] = _edgeUrl,
            ["Auth__Tokens__0__Token"] = StorefrontToken,
            ["Auth__Tokens__0__Role"] = "storefront",
            ["Auth__Tokens__0__Stores__0"] = "*",
            ["Auth__Tokens__1__Token"] = AdminToken,
            ["Auth__Tokens__1__Role"] = "admin",
            ["Auth__Tokens__1__Stores__0"] = "*",
            ["RateLimits__PermitsPerSecond"] = "10000000",
            ["RateLimits__Burst"] = "10000000",
        }), Path.Combine(_logs, "edge.log"));
        _started.Add(_edge);
        var silo = _silo;
        _cpu.Track("silo", () => silo.HasExited ? [] : [silo.Pid]);
        _cpu.Track("edge", _edge.Pid);
        var watch = Stopwatch.StartNew();
        await _edge.WaitForHttpAsync(_edgeUrl + "/health/ready", TimeSpan.FromSeconds(120));
        Console.WriteLine($"edge ready at {_edgeUrl} after {watch.Elapsed.TotalSeconds:0.0} s (silo pid {_silo.Pid}, edge pid {_edge.Pid})");
        _report.Scenarios["startup"] = new { edgeReadySeconds = Math.Round(watch.Elapsed.TotalSeconds, 1), _edgeUrl, database = _database, cluster = "load-" + _stamp };
    }

    private void KillStarted()
    {
        foreach (var process in _started.ToArray())
        {
            try
            {
                process.Kill();
            }
            catch (Exception)
            {
            }
        }
    }

    private async Task StopAllAsync()
    {
        foreach (var process in Enumerable.Reverse(_started))
        {
            try
            {
                await process.DisposeAsync();
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"stopping {process.Name}: {e.Message}");
            }
        }

        _started.Clear();
    }

    private HttpClient Http(string baseUrl, string token, int connections = 256) =>
        new(new SocketsHttpHandler { MaxConnectionsPerServer = connections, UseProxy = false, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            BaseAddress = new Uri(baseUrl),
            Timeout = TimeSpan.FromSeconds(30),
            DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", token) },
        };

    private async Task PublishPoliciesAsync()
    {
        using var http = Http(_edgeUrl, AdminToken);
        await Parallel.ForEachAsync(Enumerable.Range(0, _profile.Stores), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (s, ct) =>
        {
            using var response = await http.PutAsync($"/v1/stores/{KeySpace.StoreId(s)}/policy", Json(
                """{"version":1,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true,"materialChange":false},"recommendation":{"enabled":true,"materialChange":false}}}"""), ct);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"policy of store {s}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
            }
        });
    }

    /// <summary>What the started processes use when nothing is asked of them (timers, membership, feed renewals, JIT).</summary>
    private async Task IdleBaselineAsync()
    {
        await Task.Delay(TimeSpan.FromSeconds(1));
        var from = _cpu.Now;
        await Task.Delay(TimeSpan.FromSeconds(3));
        _report.Cpu.Add(new CpuWindow("idle baseline (cluster started, no load)", _cpu.Between(from, _cpu.Now)));
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    // ---------------------------------------------------------------- (d) durable writes

    private async Task DurableWritesAsync()
    {
        // The PostgreSQL ceiling: the same number of concurrent single-row durable upserts, no Orleans, no HTTP.
        var pg = await PostgresCeilingAsync();
        _pgCeilingRate = pg.PerSecond;

        // Every acknowledged write: the hottest ranks first, so these are also the 'granted' answers of the checks.
        var count = _profile.PreloadWrites;
        var acknowledged = new bool?[count + 1];
        var histogram = new MicrosHistogram();
        var statuses = new ConcurrentDictionary<string, int>();
        long next = 0;
        using var http = Http(_edgeUrl, StorefrontToken, _profile.WriteConcurrency);
        var from = _cpu.Now;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, _profile.WriteConcurrency).Select(async _ =>
        {
            await Task.Yield();
            long rank;
            while ((rank = Interlocked.Increment(ref next)) <= count)
            {
                var index = _keys.IndexOfRank((int)rank);
                var granted = rank % 4 != 0;
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await http.PutAsync(
                        $"/v1/stores/{KeySpace.StoreId(_keys.StoreOf(index))}/subjects/{KeySpace.SubjectId(index)}/consents",
                        Json($$"""{"purposes":{"analytics":{{(granted ? "true" : "false")}}},"policyVersion":1,"source":"banner"}"""));
                    await response.Content.LoadIntoBufferAsync();
                    histogram.RecordTicks(Stopwatch.GetTimestamp() - started);
                    statuses.AddOrUpdate(((int)response.StatusCode).ToString(), 1, (_, n) => n + 1);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        acknowledged[rank] = granted;
                    }
                }
                catch (Exception e)
                {
                    histogram.RecordTicks(Stopwatch.GetTimestamp() - started);
                    statuses.AddOrUpdate(e.GetType().Name, 1, (_, n) => n + 1);
                }
            }
        }));
        var seconds = watch.Elapsed.TotalSeconds;
        var writeWindow = _cpu.Between(from, _cpu.Now);
        var latency = histogram.Summary();
        var acked = acknowledged.Count(a => a is not null);
        _writesPerSecond = acked / seconds;
        _report.Cpu.Add(new CpuWindow("durable writes (PUT consents)", writeWindow, Math.Round(_writesPerSecond, 1), "writes"));

        // None lost: crash the silo (SIGKILL), start a new one, and read every acknowledged write back from PostgreSQL.
        var recovery = Stopwatch.StartNew();
        _silo!.Kill();
        _silo = StartSilo("silo-after-crash.log");
        var silo = _silo;
        _cpu.Track("silo", () => silo.HasExited ? [] : [silo.Pid]);
        await WaitUntilServingAsync();
        var recoverySeconds = recovery.Elapsed.TotalSeconds;
        var (verified, lost, wrong, unreadable) = await VerifyAsync(acknowledged);
        await ProfileWritesAsync();

        _report.Scenarios["durableWrites"] = new
        {
            writes = count, acknowledged = acked, concurrency = _profile.WriteConcurrency, seconds = Math.Round(seconds, 2),
            perSecond = Math.Round(_writesPerSecond, 1), latency, statuses, postgresCeiling = pg,
            verification = new { method = "silo SIGKILLed after the writes, a new silo started, every acknowledged write read back with GET subject", recoverySeconds = Math.Round(recoverySeconds, 1), verified, lost, wrong, unreadable },
        };
        var failedWrites = count - acked;
        _report.Add(new Figure("durable writes", $"PUT consents/s on PostgreSQL ({_profile.WriteConcurrency} concurrent, {count:N0} first writes)",
            Math.Round(_writesPerSecond, 1), "writes/s", Math.Round(_pgCeilingRate, 1), "raw Npgsql durable upserts, same concurrency",
            RunReport.RatioOf(_writesPerSecond, _pgCeilingRate), ">= 3,000 writes/s", _writesPerSecond >= 3000,
            failedWrites > 0 ? $"{failedWrites} writes not acknowledged: {string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}"))}" : null));
        _report.Add(new Figure("durable writes", "write latency p99", latency.P99, "ms", pg.Latency.P99, "raw upsert p99",
            RunReport.RatioOf(latency.P99, pg.Latency.P99), "<= 25 ms", latency.P99 <= 25, $"p50 {latency.P50} / p90 {latency.P90} / p99.9 {latency.P999} / max {latency.Max} ms"));
        _report.Add(new Figure("durable writes", "acknowledged writes lost (after silo SIGKILL + restart)", lost + wrong, "writes", null, null, null,
            "0 lost", lost + wrong == 0 && unreadable == 0, $"{verified:N0} of {acked:N0} read back with the acknowledged choice; {unreadable} unreadable; recovery {recoverySeconds:0.0} s"));
    }

    private sealed record PgCeiling(int Concurrency, double Seconds, long Rows, double PerSecond, LatencySummary Latency);

    private async Task<PgCeiling> PostgresCeilingAsync()
    {
        var builder = new NpgsqlConnectionStringBuilder(_consentConnection) { MaxPoolSize = _profile.WriteConcurrency + 4 };
        await using var source = NpgsqlDataSource.Create(builder.ConnectionString);
        await using (var create = source.CreateCommand("CREATE TABLE IF NOT EXISTS load_ceiling (k text PRIMARY KEY, v bytea NOT NULL, version int NOT NULL)"))
        {
            await create.ExecuteNonQueryAsync();
        }

        var payload = new byte[600];
        Random.Shared.NextBytes(payload);
        var histogram = new MicrosHistogram();
        long rows = 0;
        var duration = _profile.PgCeilingDuration;
        var from = _cpu.Now;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, _profile.WriteConcurrency).Select(async worker =>
        {
            await Task.Yield();
            var i = 0;
            while (watch.Elapsed < duration)
            {
                var started = Stopwatch.GetTimestamp();
                await using var command = source.CreateCommand(
                    "INSERT INTO load_ceiling (k, v, version) VALUES ($1, $2, 1) ON CONFLICT (k) DO UPDATE SET v = excluded.v, version = load_ceiling.version + 1");
                command.Parameters.Add(new NpgsqlParameter { Value = $"s{worker}/c{i++}" });
                command.Parameters.Add(new NpgsqlParameter { Value = payload });
                await command.ExecuteNonQueryAsync();
                histogram.RecordTicks(Stopwatch.GetTimestamp() - started);
                Interlocked.Increment(ref rows);
            }
        }));
        var seconds = watch.Elapsed.TotalSeconds;
        _report.Cpu.Add(new CpuWindow("PostgreSQL ceiling (raw upserts)", _cpu.Between(from, _cpu.Now), Math.Round(rows / watch.Elapsed.TotalSeconds, 1), "upserts"));
        return new PgCeiling(_profile.WriteConcurrency, Math.Round(seconds, 2), rows, Math.Round(rows / seconds, 1), histogram.Summary());
    }

    private async Task WaitUntilServingAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        using var http = Http(_edgeUrl, StorefrontToken);
        var streak = 0;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var ready = await http.GetAsync("/health/ready");
                using var check = await http.GetAsync($"/v1/stores/s1/subjects/probe{Random.Shared.Next()}/decisions?purpose=analytics");
                streak = ready.IsSuccessStatusCode && check.IsSuccessStatusCode ? streak + 1 : 0;
                if (streak >= 5)
                {
                    return;
                }
            }
            catch (Exception)
            {
                streak = 0;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException("the cluster did not serve again within 120 s after the silo was replaced");
    }

    private async Task<(long Verified, long Lost, long Wrong, long Unreadable)> VerifyAsync(bool?[] acknowledged)
    {
        long verified = 0, lost = 0, wrong = 0, unreadable = 0;
        using var http = Http(_edgeUrl, AdminToken, 64);
        var ranks = Enumerable.Range(1, acknowledged.Length - 1).Where(r => acknowledged[r] is not null).ToArray();
        await Parallel.ForEachAsync(ranks, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (rank, ct) =>
        {
            var index = _keys.IndexOfRank(rank);
            for (var attempt = 0; attempt < 20; attempt++)
            {
                try
                {
                    using var response = await http.GetAsync($"/v1/stores/{KeySpace.StoreId(_keys.StoreOf(index))}/subjects/{KeySpace.SubjectId(index)}", ct);
                    if (response.StatusCode == HttpStatusCode.NotFound)
                    {
                        Interlocked.Increment(ref lost);
                        return;
                    }

                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct))!;
                        var granted = body["consents"]?["analytics"]?["granted"]?.GetValue<bool>();
                        if (granted == acknowledged[rank])
                        {
                            Interlocked.Increment(ref verified);
                        }
                        else
                        {
                            Interlocked.Increment(ref wrong);
                        }

                        return;
                    }
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException)
                {
                }

                await Task.Delay(500, ct);
            }

            Interlocked.Increment(ref unreadable);
        });
        return (verified, lost, wrong, unreadable);
    }

    // ---------------------------------------------------------------- (a, b) single check and the HTTP ceiling

    private Dictionary<string, string> WrkEnvironment() => new()
    {
        ["LT_TOKEN"] = StorefrontToken,
        ["LT_SUBJECTS"] = _keys.Subjects.ToString(),
        ["LT_STORES"] = _keys.Stores.ToString(),
        ["LT_ZIPF_S"] = _keys.S.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private string WrkScript => Path.Combine(options.RepositoryRoot, "load-tests", "scripts", "check.lua");

    private async Task SingleCheckAsync()
    {
        var p = _profile;
        // Warm-up: JIT, connection pools, and the hot subjects' activations (a real edge has them).
        var warm = await Wrk.RunAsync("edge warm-up", _edgeUrl, WrkScript, p.WrkThreads, p.WrkConnections, p.WrkWarmup, WrkEnvironment());
        Console.WriteLine($"warm-up: {warm.RequestsPerSecond:N0} req/s");

        var lookupsBefore = await CacheLookupsAsync();
        var from = _cpu.Now;
        var edge = await Wrk.RunAsync("edge", _edgeUrl, WrkScript, p.WrkThreads, p.WrkConnections, p.WrkDuration, WrkEnvironment());
        var lookups = (await CacheLookupsAsync()).Subtract(lookupsBefore);
        _report.Cpu.Add(new CpuWindow($"single check, edge, wrk -t{p.WrkThreads} -c{p.WrkConnections}", _cpu.Between(from + 0.5, _cpu.Now - 0.5), edge.RequestsPerSecond, "checks"));
        _saturation = edge.RequestsPerSecond;
        Console.WriteLine($"edge: {edge.RequestsPerSecond:N0} req/s, p99 {edge.Latency.P99} ms");
        var activations = EstimateColdActivations(warm.Requests, edge.Requests);

        // dotnet-counters during an extra run of the same load: its in-process listener sees every measurement of
        // every instrument, which would slow the measured run and not the ceiling's.
        var counters = StartCounters(p.WrkDuration);
        await Wrk.RunAsync("edge, dotnet-counters attached", _edgeUrl, WrkScript, p.WrkThreads, p.WrkConnections, p.WrkDuration, WrkEnvironment());
        await CollectCountersAsync(counters);
        await ProfileChecksAsync();

        // Diagnostic: the same route on a small hot set whose grains are all active, i.e. no activations and no storage.
        var hotEnvironment = WrkEnvironment();
        hotEnvironment["LT_SUBJECTS"] = "1000";
        await Wrk.RunAsync("edge hot-set warm-up", _edgeUrl, WrkScript, p.WrkThreads, p.WrkConnections, TimeSpan.FromSeconds(3), hotEnvironment);
        from = _cpu.Now;
        var hot = await Wrk.RunAsync("edge, 1,000 active subjects", _edgeUrl, WrkScript, p.WrkThreads, p.WrkConnections,
            TimeSpan.FromSeconds(Math.Max(6, p.WrkDuration.TotalSeconds / 2)), hotEnvironment);
        _report.Cpu.Add(new CpuWindow($"single check, edge, 1,000 active subjects only (diagnostic)", _cpu.Between(from + 0.5, _cpu.Now - 0.5), hot.RequestsPerSecond, "checks"));
        Console.WriteLine($"edge hot set: {hot.RequestsPerSecond:N0} req/s, p99 {hot.Latency.P99} ms");

        // The HTTP ceiling, measured the same way.
        var ceilingPort = ServiceProcess.FreePort();
        _ceilingUrl = $"http://127.0.0.1:{ceilingPort}";
        _ceiling = ServiceProcess.Start("ceiling", options.HarnessDll, new Dictionary<string, string>(), Path.Combine(_logs, "ceiling.log"),
            "ceiling-server", "--port", ceilingPort.ToString());
        _started.Add(_ceiling);
        _cpu.Track("ceiling server", _ceiling.Pid);
        await _ceiling.WaitForHttpAsync(_ceilingUrl + "/health/ready", TimeSpan.FromSeconds(30));
        await Wrk.RunAsync("ceiling warm-up", _ceilingUrl, WrkScript, p.WrkThreads, p.WrkConnections, TimeSpan.FromSeconds(3), WrkEnvironment());
        from = _cpu.Now;
        var ceiling = await Wrk.RunAsync("bare Kestrel ceiling", _ceilingUrl, WrkScript, p.WrkThreads, p.WrkConnections, p.WrkDuration, WrkEnvironment());
        _report.Cpu.Add(new CpuWindow($"HTTP ceiling (bare Kestrel), wrk -t{p.WrkThreads} -c{p.WrkConnections}", _cpu.Between(from + 0.5, _cpu.Now - 0.5), ceiling.RequestsPerSecond, "requests"));
        _ceilingRps = ceiling.RequestsPerSecond;
        _ceilingP99 = ceiling.Latency.P99;

        _report.Scenarios["singleCheck"] = new { edge, ceiling, hotSetDiagnostic = hot, estimatedColdActivations = activations, warmUp = warm, zipf = new { _keys.S, _keys.Subjects, _keys.Stores, hotSetPreloaded = p.PreloadWrites, shareOfChecksOnPreloaded = Math.Round(_keys.MassOfTop(p.PreloadWrites), 3) } };
        _report.Chart.Add(new ChartPoint("edge wrk c64 (closed loop)", edge.RequestsPerSecond, edge.RequestsPerSecond, edge.Latency.P50, edge.Latency.P99, edge.Latency.Max));
        _report.Chart.Add(new ChartPoint("ceiling wrk c64 (closed loop)", ceiling.RequestsPerSecond, ceiling.RequestsPerSecond, ceiling.Latency.P50, ceiling.Latency.P99, ceiling.Latency.Max));
        var ratio = RunReport.RatioOf(edge.RequestsPerSecond, ceiling.RequestsPerSecond);
        _report.Add(new Figure("single check", $"HTTP checks/s (wrk -t{p.WrkThreads} -c{p.WrkConnections}, closed loop = saturation)", edge.RequestsPerSecond, "req/s",
            ceiling.RequestsPerSecond, "bare Kestrel constant decision", ratio, ">= 90 % of the ceiling", ratio >= 0.9,
            edge.Errors > 0 ? $"errors: {edge.ErrorDetail}" : null));
        _report.Add(new Figure("single check", $"p99 at {p.WrkConnections} connections", edge.Latency.P99, "ms", ceiling.Latency.P99, "bare Kestrel p99",
            RunReport.RatioOf(edge.Latency.P99, ceiling.Latency.P99), "<= 5 ms", edge.Latency.P99 <= 5,
            $"p50 {edge.Latency.P50} / p90 {edge.Latency.P90} / p99.9 {edge.Latency.P999} / max {edge.Latency.Max} ms"));
        _report.Add(new Figure("single check", "diagnostic: HTTP checks/s when only 1,000 subjects are asked (all active: no activation, no storage)", hot.RequestsPerSecond, "req/s",
            ceiling.RequestsPerSecond, "bare Kestrel constant decision", RunReport.RatioOf(hot.RequestsPerSecond, ceiling.RequestsPerSecond), null, null,
            $"p50 {hot.Latency.P50} / p99 {hot.Latency.P99} / max {hot.Latency.Max} ms"));
        _report.Add(new Figure("single check", "checks answered at the edge without a grain call during the measured window", lookups.HereShare * 100, "%",
            null, null, null, null, null,
            $"{lookups.Hit:N0} from a subject lease held, {lookups.Absent:N0} from the store's absence lease (no record: no activation, no database read), " +
            $"{lookups.Lease:N0} took a new subject lease (first ask of a subject with a record, or its 5 s lease ran out), {lookups.Grain:N0} decided by the grain"));
        _report.Add(new Figure("single check", "never-asked subjects checked during the measured window (estimated from the key space)", activations.DuringMeasurement, "subjects",
            null, null, null, null, null, $"≈ {activations.PerSecond:N0}/s, {activations.ShareOfChecks:P1} of the window's checks; " +
            "without the absence leases each was an activation (a PostgreSQL read and a store-lease call)"));
        _report.Add(new Figure("single check", $"p99.9 at {p.WrkConnections} connections", edge.Latency.P999, "ms", ceiling.Latency.P999, "bare Kestrel p99.9",
            RunReport.RatioOf(edge.Latency.P999, ceiling.Latency.P999), null, null));
        _report.Add(new Figure("single check", $"max at {p.WrkConnections} connections", edge.Latency.Max, "ms", ceiling.Latency.Max, "bare Kestrel max",
            RunReport.RatioOf(edge.Latency.Max, ceiling.Latency.Max), null, null));
    }

    private sealed record CacheLookups(double Hit, double Absent, double Lease, double Grain)
    {
        private double Total => Hit + Absent + Lease + Grain;

        public double HereShare => Total > 0 ? Math.Round((Hit + Absent) / Total, 4) : 0;

        public CacheLookups Subtract(CacheLookups before) =>
            new(Hit - before.Hit, Absent - before.Absent, Lease - before.Lease, Grain - before.Grain);
    }

    /// <summary>The edge's decision-cache lookups so far, from its Prometheus endpoint.</summary>
    private async Task<CacheLookups> CacheLookupsAsync()
    {
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(_edgeUrl), Timeout = TimeSpan.FromSeconds(10) };
            var text = await client.GetStringAsync("/metrics");
            double Of(string result) => System.Text.RegularExpressions.Regex.Matches(text,
                    $$"""^shopastro_decision_cache_lookups_total\{[^}]*result="{{result}}"[^}]*\} (?<value>[0-9.e+]+)""",
                    System.Text.RegularExpressions.RegexOptions.Multiline)
                .Sum(m => double.Parse(m.Groups["value"].Value, System.Globalization.CultureInfo.InvariantCulture));
            return new CacheLookups(Of("hit"), Of("absent"), Of("lease"), Of("grain"));
        }
        catch (Exception exception)
        {
            Console.WriteLine($"decision cache metrics unavailable: {exception.Message}");
            return new CacheLookups(0, 0, 0, 0);
        }
    }

    private readonly List<(string Process, string File)> _traces = [];
    private readonly Dictionary<string, List<ProfileFrame>> _allFrames = [];

    private static string DotnetTool(string name) =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools", name);

    /// <summary>CPU profiles of the edge and the silo (perf sampling through dotnet-trace) during an extra, unmeasured wrk run.</summary>
    private Task ProfileChecksAsync() => ProfileAsync("checks", async () =>
    {
        var p = _profile;
        await Wrk.RunAsync("profiling run (not measured)", _edgeUrl, WrkScript, p.WrkThreads, p.WrkConnections, TimeSpan.FromSeconds(14), WrkEnvironment());
    });

    /// <summary>The same for first writes: 32 concurrent PUTs to new subjects, as in the measured scenario, for about 14 s.</summary>
    private Task ProfileWritesAsync() => ProfileAsync("writes", async () =>
    {
        using var http = Http(_edgeUrl, StorefrontToken, _profile.WriteConcurrency);
        var watch = Stopwatch.StartNew();
        long next = 0;
        await Task.WhenAll(Enumerable.Range(0, _profile.WriteConcurrency).Select(async _ =>
        {
            await Task.Yield();
            while (watch.Elapsed < TimeSpan.FromSeconds(14))
            {
                var i = Interlocked.Increment(ref next);
                try
                {
                    using var response = await http.PutAsync($"/v1/stores/{KeySpace.StoreId((int)(i % _profile.Stores))}/subjects/p{_stamp}x{i}/consents",
                        Json("""{"purposes":{"analytics":true},"policyVersion":1,"source":"banner"}"""));
                }
                catch (Exception)
                {
                }
            }
        }));
    });

    private async Task ProfileAsync(string label, Func<Task> generate)
    {
        var tool = DotnetTool("dotnet-trace");
        if (!File.Exists(tool))
        {
            if (label == "checks")
            {
                _report.Notes.Add("dotnet-trace is not installed (run.sh installs it when NuGet serves it): no CPU profiles.");
            }

            return;
        }

        var load = generate();
        await Task.Delay(1500);
        foreach (var (name, pid) in new[] { ("edge", _edge!.Pid), ("silo", _silo!.Pid) })
        {
            var file = Path.Combine(_logs, $"trace-{name}-{label}.nettrace");
            var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "collect-linux", "-p", pid.ToString(), "--profile", "cpu-sampling", "--duration", "00:00:00:05", "-o", file })
            {
                start.ArgumentList.Add(a);
            }

            try
            {
                using var trace = Process.Start(start)!;
                var output = Task.WhenAll(trace.StandardOutput.ReadToEndAsync(), trace.StandardError.ReadToEndAsync());
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try
                {
                    await trace.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    trace.Kill(entireProcessTree: true);
                }

                var text = string.Concat(await output);
                if (File.Exists(file))
                {
                    _traces.Add(($"{name} during {label}", file));
                }
                else
                {
                    _report.Notes.Add($"dotnet-trace collect-linux wrote no trace for {name} ({label}): {text.Trim().Split('\n').LastOrDefault()}");
                }
            }
            catch (Exception e)
            {
                _report.Notes.Add($"dotnet-trace for {name} ({label}) did not run: {e.Message}");
            }
        }

        await load;
    }

    private static readonly string[] KernelFramesKept = ["do_syscall_64", "tcp_sendmsg", "__x64_sys_sched_yield", "do_epoll_wait", "__x64_sys_futex", "tcp_v4_rcv"];

    private static readonly string[] GenericFrames =
    [
        "Threading.ExecutionContext::Run", "CompilerServices.AsyncMethodBuilderCore::Start", "Tasks.Task::ExecuteWithThreadLocal",
        "Tasks.Task::ExecuteEntryUnsafe", "Tasks.AwaitTaskContinuation::RunOrScheduleAction", "Tasks.Task::RunContinuations",
        "(Non-Activities)", "Threads", "EventData:", "EventName:", "libc.so.6!start_thread", "libc.so.6!__clone3", "Process64 ", "Thread (",
    ];

    private async Task ReportProfilesAsync()
    {
        foreach (var (name, file) in _traces)
        {
            var text = await Tool(DotnetTool("dotnet-trace"), "report", file, "topN", "-n", "80", "--inclusive");
            var frames = new List<ProfileFrame>();
            foreach (var line in text.Split('\n'))
            {
                var match = System.Text.RegularExpressions.Regex.Match(line, @"^\s*\d+\.\s+(?<frame>.+?)\s{2,}(?<inclusive>[\d.]+)%\s+(?<exclusive>[\d.]+)%");
                if (!match.Success)
                {
                    continue;
                }

                var frame = match.Groups["frame"].Value.Trim();
                if (GenericFrames.Any(g => frame.StartsWith(g, StringComparison.Ordinal)) || frame.EndsWith("!?", StringComparison.Ordinal))
                {
                    continue;
                }

                // Kernel frames: only the total of system calls and a few telling paths, not every frame of the syscall entry.
                if (frame.StartsWith("vmlinux!", StringComparison.Ordinal)
                    && !KernelFramesKept.Any(k => frame.Equals("vmlinux!" + k, StringComparison.Ordinal)))
                {
                    continue;
                }

                if (frames.Any(f => f.Frame == frame))
                {
                    continue;
                }

                frames.Add(new ProfileFrame(frame, double.Parse(match.Groups["inclusive"].Value, System.Globalization.CultureInfo.InvariantCulture)));
            }

            if (frames.Count > 0)
            {
                _allFrames[name] = frames;
                _report.Profiles[name] = frames.Take(25).ToList();
            }
            else
            {
                _report.Notes.Add($"the CPU profile of {name} could not be summarised ({file})");
            }
        }
    }

    private sealed record ColdActivations(long BeforeMeasurement, long DuringMeasurement, double PerSecond, double ShareOfChecks);

    /// <summary>
    /// How many subjects the measured window asked for the first time (so activated, reading storage): the same draws
    /// as wrk's, replayed: the preloaded subjects (active after the verification) and the warm-up come first.
    /// </summary>
    private ColdActivations EstimateColdActivations(long warmUpRequests, long measuredRequests)
    {
        var random = new Random(11);
        var seen = new HashSet<int>(Enumerable.Range(1, _profile.PreloadWrites));
        for (long i = 0; i < warmUpRequests; i++)
        {
            seen.Add(_keys.SampleRank(random));
        }

        var before = seen.Count;
        for (long i = 0; i < measuredRequests; i++)
        {
            seen.Add(_keys.SampleRank(random));
        }

        var during = seen.Count - before;
        return new ColdActivations(before - _profile.PreloadWrites, during, Math.Round(during / _profile.WrkDuration.TotalSeconds),
            measuredRequests == 0 ? 0 : Math.Round((double)during / measuredRequests, 4));
    }

    private async Task SweepAsync()
    {
        if (_saturation <= 0)
        {
            throw new InvalidOperationException("no saturation rate (the single-check scenario failed)");
        }

        using var client = OpenLoop.Client(64);
        HttpRequestMessage CheckRequest(string baseUrl)
        {
            var index = _keys.SampleIndex(Random.Shared);
            var request = new HttpRequestMessage(HttpMethod.Get,
                $"{baseUrl}/v1/stores/{KeySpace.StoreId(_keys.StoreOf(index))}/subjects/{KeySpace.SubjectId(index)}/decisions?purpose=analytics&purpose=cart");
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + StorefrontToken);
            return request;
        }

        // A short open-loop warm-up of the generator's own connections.
        await OpenLoop.RunAsync("warm-up", client, _ => CheckRequest(_edgeUrl), Math.Max(100, _saturation * 0.1), TimeSpan.FromSeconds(2));
        var results = new List<OpenLoopResult>();
        OpenLoopResult? half = null;
        foreach (var fraction in _profile.SweepFractions)
        {
            var rate = _saturation * fraction;
            var from = _cpu.Now;
            var result = await OpenLoop.RunAsync($"edge {fraction:P0}", client, _ => CheckRequest(_edgeUrl), rate, _profile.SweepStep);
            _report.Cpu.Add(new CpuWindow($"open loop {fraction:P0} of saturation ({rate:N0}/s)", _cpu.Between(from + 0.5, _cpu.Now - 0.5), result.AchievedPerSecond, "checks"));
            results.Add(result);
            _report.Chart.Add(new ChartPoint("edge open loop", result.OfferedPerSecond, result.AchievedPerSecond, result.Latency.P50, result.Latency.P99, result.Latency.Max));
            Console.WriteLine($"open loop {fraction:P0}: offered {rate:N0}/s achieved {result.AchievedPerSecond:N0}/s p50 {result.Latency.P50} p99 {result.Latency.P99} max {result.Latency.Max} ms, errors {result.Errors}");
            if (Math.Abs(fraction - 0.5) < 1e-9)
            {
                half = result;
            }
        }

        OpenLoopResult? ceilingHalf = null;
        if (half is not null && _ceiling is { HasExited: false })
        {
            using var ceilingClient = OpenLoop.Client(64);
            await OpenLoop.RunAsync("ceiling warm-up", ceilingClient, _ => CheckRequest(_ceilingUrl), Math.Max(100, _saturation * 0.1), TimeSpan.FromSeconds(1));
            var from = _cpu.Now;
            ceilingHalf = await OpenLoop.RunAsync("ceiling at the edge's half rate", ceilingClient, _ => CheckRequest(_ceilingUrl), half.OfferedPerSecond, _profile.SweepStep);
            _report.Cpu.Add(new CpuWindow($"open loop, bare Kestrel ceiling at {half.OfferedPerSecond:N0}/s", _cpu.Between(from + 0.5, _cpu.Now - 0.5), ceilingHalf.AchievedPerSecond, "requests"));
            _report.Chart.Add(new ChartPoint("ceiling open loop", ceilingHalf.OfferedPerSecond, ceilingHalf.AchievedPerSecond, ceilingHalf.Latency.P50, ceilingHalf.Latency.P99, ceilingHalf.Latency.Max));
        }

        _report.Scenarios["openLoopSweep"] = new { saturation = _saturation, connections = 64, stepSeconds = _profile.SweepStep.TotalSeconds, results, ceilingAtHalf = ceilingHalf };
        if (half is not null)
        {
            _report.Add(new Figure("single check", $"max latency, open loop at half saturation ({half.OfferedPerSecond:N0} req/s offered)", half.Latency.Max, "ms",
                ceilingHalf?.Latency.Max, "bare Kestrel, same rate", RunReport.RatioOf(half.Latency.Max, ceilingHalf?.Latency.Max), "<= 100 ms", half.Latency.Max <= 100 && half.Errors == 0,
                $"p50 {half.Latency.P50} / p90 {half.Latency.P90} / p99 {half.Latency.P99} / p99.9 {half.Latency.P999} ms; achieved {half.AchievedPerSecond:N0}/s; errors {half.Errors}; generator dispatch lag p99 {half.DispatchLag.P99} ms"));
            _report.Add(new Figure("single check", "p99, open loop at half saturation", half.Latency.P99, "ms",
                ceilingHalf?.Latency.P99, "bare Kestrel, same rate", RunReport.RatioOf(half.Latency.P99, ceilingHalf?.Latency.P99), null, null));
        }
    }

    // ---------------------------------------------------------------- (c) batch

    private async Task BatchAsync()
    {
        var p = _profile;
        var random = new Random(7);
        var distinctSubjects = new List<int>();
        var bodies = Enumerable.Range(0, 8).Select(b =>
        {
            var store = b % p.Stores;
            var json = new StringBuilder("{\"items\":[");
            var subjects = new HashSet<int>();
            for (var i = 0; i < p.BatchItems; i++)
            {
                var index = _keys.SampleIndexInStore(random, store);
                subjects.Add(index);
                json.Append(i == 0 ? "" : ",").Append("{\"subjectId\":\"").Append(KeySpace.SubjectId(index)).Append("\",\"purpose\":\"")
                    .Append(i % 3 == 0 ? "analytics" : "recommendation").Append("\"}");
            }

            json.Append("],\"signals\":{\"dnt\":false,\"gpc\":false}}");
            distinctSubjects.Add(subjects.Count);
            return (Store: KeySpace.StoreId(store), Body: Encoding.UTF8.GetBytes(json.ToString()));
        }).ToArray();
        _batchDistinct = distinctSubjects.Average();

        using var http = Http(_edgeUrl, StorefrontToken, p.BatchConcurrency);
        async Task<bool> Send(int b)
        {
            using var content = new ByteArrayContent(bodies[b].Body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await http.PostAsync($"/v1/stores/{bodies[b].Store}/decisions/batch", content);
            var bytes = await response.Content.ReadAsByteArrayAsync();
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"batch answered {(int)response.StatusCode}: {Encoding.UTF8.GetString(bytes.AsSpan(0, Math.Min(400, bytes.Length)))}");
            }

            return true;
        }

        // Warm-up: every body once, so its subjects are active (the steady state of a pipeline that runs all day).
        var warmWatch = Stopwatch.StartNew();
        for (var b = 0; b < bodies.Length; b++)
        {
            await Send(b);
        }

        var coldSeconds = warmWatch.Elapsed.TotalSeconds;
        var histogram = new MicrosHistogram();
        long requests = 0, next = 0;
        var from = _cpu.Now;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, p.BatchConcurrency).Select(async _ =>
        {
            await Task.Yield();
            while (watch.Elapsed < p.BatchDuration)
            {
                var b = (int)(Interlocked.Increment(ref next) % bodies.Length);
                var started = Stopwatch.GetTimestamp();
                await Send(b);
                histogram.RecordTicks(Stopwatch.GetTimestamp() - started);
                Interlocked.Increment(ref requests);
            }
        }));
        var seconds = watch.Elapsed.TotalSeconds;
        var decisionsPerSecond = requests * p.BatchItems / seconds;
        _report.Cpu.Add(new CpuWindow($"batch, {p.BatchConcurrency} concurrent × {p.BatchItems:N0} items", _cpu.Between(from + 0.5, _cpu.Now - 0.5), Math.Round(decisionsPerSecond), "decisions"));
        var latency = histogram.Summary();
        _report.Scenarios["batch"] = new
        {
            items = p.BatchItems, concurrency = p.BatchConcurrency, requests, seconds = Math.Round(seconds, 2),
            decisionsPerSecond = Math.Round(decisionsPerSecond), requestLatency = latency, distinctSubjectsPerBatch = Math.Round(_batchDistinct),
            coldFirstPassSeconds = Math.Round(coldSeconds, 2), bodyBytes = bodies[0].Body.Length,
        };
        _report.Add(new Figure("batch", $"decisions/s through /decisions/batch ({p.BatchItems:N0} items, {p.BatchConcurrency} concurrent)", Math.Round(decisionsPerSecond), "decisions/s",
            _dictionaryLookups > 0 ? _dictionaryLookups : null, "in-process Dictionary lookups/s", null, ">= 1,000,000 decisions/s", decisionsPerSecond >= 1_000_000,
            $"request p50 {latency.P50} / p99 {latency.P99} / max {latency.Max} ms"));
    }

    // ---------------------------------------------------------------- (e) write-to-SignalR

    private async Task FeedAsync()
    {
        if (_writesPerSecond <= 0)
        {
            throw new InvalidOperationException("no write rate (the durable-writes scenario failed)");
        }

        var rate = Math.Max(10, _writesPerSecond / 2);
        var count = (int)Math.Max(_profile.FeedMinChanges, rate * _profile.FeedDuration.TotalSeconds);
        var edge = await MeasureFeedAsync("edge", _edgeUrl, "f", rate, count);
        _report.Cpu.Add(new CpuWindow($"write-to-SignalR, edge, {rate:N0} writes/s", edge.Cpu!, edge.Writes.AchievedPerSecond, "writes"));
        FeedResult? ceiling = null;
        if (_ceiling is { HasExited: false })
        {
            ceiling = await MeasureFeedAsync("ceiling", _ceilingUrl, "c", rate, count);
            _report.Cpu.Add(new CpuWindow($"write-to-SignalR, bare SignalR ceiling, {rate:N0} writes/s", ceiling.Cpu!, ceiling.Writes.AchievedPerSecond, "writes"));
        }

        _report.Scenarios["writeToSignalR"] = new { rate = Math.Round(rate, 1), count, edge = edge with { Cpu = null }, ceiling = ceiling is null ? null : ceiling with { Cpu = null } };
        _report.Add(new Figure("write-to-SignalR", $"ack → dashboard receipt p99 at half the write rate ({rate:N0} writes/s, {edge.Received:N0} changes)", edge.AckToReceipt.P99, "ms",
            ceiling?.AckToReceipt.P99, "bare Kestrel + SignalR, no grains/storage/backplane", RunReport.RatioOf(edge.AckToReceipt.P99, ceiling?.AckToReceipt.P99),
            "<= 50 ms", edge.AckToReceipt.P99 <= 50 && edge.Missing == 0,
            $"p50 {edge.AckToReceipt.P50} / p90 {edge.AckToReceipt.P90} / max {edge.AckToReceipt.Max} ms; {edge.BeforeAck} arrived before the HTTP ack (counted as 0); {edge.Missing} missing; write p99 {edge.Writes.Latency.P99} ms"));
    }

    private sealed record FeedResult(
        string Target, double Rate, int WriteCount, long Acknowledged, long Received, long Missing, long BeforeAck,
        LatencySummary AckToReceipt, LatencySummary SendToReceipt, OpenLoopResult Writes, CpuSampler.Usage? Cpu);

    private async Task<FeedResult> MeasureFeedAsync(string target, string baseUrl, string prefix, double rate, int count)
    {
        const string store = "s0";
        var receipts = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        await using var connection = new HubConnectionBuilder()
            .WithUrl(baseUrl + "/hubs/consent", o =>
            {
                o.Transports = HttpTransportType.WebSockets;
                o.SkipNegotiation = true;
                o.AccessTokenProvider = () => Task.FromResult<string?>(AdminToken);
            })
            .Build();
        connection.On<JsonElement>("consentChanged", payload =>
        {
            var now = Stopwatch.GetTimestamp();
            if (payload.TryGetProperty("subjectId", out var subject) && subject.GetString() is { } id)
            {
                receipts.TryAdd(id, now);
            }
        });
        await connection.StartAsync();
        await connection.InvokeAsync<JsonElement>("Subscribe", store);

        var sentAt = new long[count];
        var ackedAt = new long[count];
        using var client = OpenLoop.Client(64);
        var startedAt = Stopwatch.GetTimestamp();
        var from = _cpu.Now;
        var writes = await OpenLoop.RunAsync($"{target} writes", client, i =>
        {
            sentAt[i] = Stopwatch.GetTimestamp();
            var request = new HttpRequestMessage(HttpMethod.Put, $"{baseUrl}/v1/stores/{store}/subjects/{prefix}{_stamp}x{i}/consents")
            {
                Content = new StringContent($$"""{"purposes":{"analytics":{{(i % 2 == 0 ? "true" : "false")}}},"policyVersion":1,"source":"banner"}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + StorefrontToken);
            return request;
        }, rate, TimeSpan.FromSeconds(count / rate), (i, response, now) => ackedAt[i] = now);
        var usage = _cpu.Between(from + 0.2, _cpu.Now);

        // Let the last messages arrive.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (DateTime.UtcNow < deadline && receipts.Count < ackedAt.Count(a => a != 0))
        {
            await Task.Delay(100);
        }

        var ackToReceipt = new MicrosHistogram();
        var sendToReceipt = new MicrosHistogram();
        long acknowledged = 0, received = 0, missing = 0, beforeAck = 0;
        for (var i = 0; i < count; i++)
        {
            if (ackedAt[i] == 0)
            {
                continue;
            }

            acknowledged++;
            if (!receipts.TryGetValue($"{prefix}{_stamp}x{i}", out var at))
            {
                missing++;
                continue;
            }

            received++;
            var delta = at - ackedAt[i];
            if (delta < 0)
            {
                beforeAck++;
            }

            ackToReceipt.RecordTicks(Math.Max(0, delta));
            sendToReceipt.RecordTicks(Math.Max(0, at - sentAt[i]));
        }

        GC.KeepAlive(startedAt);
        return new FeedResult(target, Math.Round(rate, 1), count, acknowledged, received, missing, beforeAck, ackToReceipt.Summary(), sendToReceipt.Summary(), writes, usage);
    }

    // ---------------------------------------------------------------- (f) memory per grain, and the decision ceiling

    private async Task MemoryAsync()
    {
        var folder = Path.Combine(Path.GetTempPath(), "shopastro-load-memory-" + _stamp);
        var output = Path.Combine(folder, "memory.json");
        Directory.CreateDirectory(folder);
        try
        {
            var checkpoints = string.Join(',', _profile.MemoryCheckpoints);
            await using var memory = ServiceProcess.Start("memory", options.HarnessDll, new Dictionary<string, string>(), Path.Combine(_logs, "memory.log"),
                "memory", "--checkpoints", checkpoints, "--granted", _profile.MemoryGranted.ToString(), "--dir", folder, "--output", output,
                "--subjects", _keys.Subjects.ToString(), "--stores", _keys.Stores.ToString());
            _started.Add(memory);
            _cpu.Track("memory bench", memory.Pid);
            var from = _cpu.Now;
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(_profile.Name == "full" ? 45 : 8);
            while (!memory.HasExited && DateTime.UtcNow < deadline)
            {
                await Task.Delay(500);
            }

            _report.Cpu.Add(new CpuWindow("memory per grain (in-process silo, SQLite)", _cpu.Between(from, _cpu.Now)));
            if (!memory.HasExited || !File.Exists(output))
            {
                throw new InvalidOperationException($"the memory measurement did not finish:\n{memory.Tail}");
            }

            var result = JsonSerializer.Deserialize<MemoryBench.Result>(await File.ReadAllTextAsync(output))!;
            _dictionaryLookups = result.Dictionary.LookupsPerSecond;
            _report.Scenarios["memory"] = result;
            _report.Add(new Figure("decision ceiling", $"in-process Dictionary lookups/s ({result.Dictionary.Entries:N0} keys, {result.Dictionary.Threads} threads, same skew)",
                result.Dictionary.LookupsPerSecond, "lookups/s", null, "this is the ceiling", null, null, null));
            foreach (var point in result.Points)
            {
                var kind = point.Kind.StartsWith("never", StringComparison.Ordinal);
                _report.Add(new Figure("memory", kind
                        ? $"managed memory per active subject grain at {point.ActiveSubjects:N0} subjects ({point.Kind})"
                        : $"managed memory per active subject grain, {point.Activated:N0} subjects with {point.Kind}",
                    point.BytesPerGrain, "B", result.Dictionary.BytesPerEntry, "Dictionary entry (key string + record)",
                    RunReport.RatioOf(point.BytesPerGrain, result.Dictionary.BytesPerEntry), "<= 3 KiB (3,072 B)", point.BytesPerGrain <= 3072,
                    $"{point.SubjectActivationsReported:N0} subject activations reported by Orleans (incl. warm-up)" +
                    (point.WorkingSetBytesPerGrain > 0 ? $"; process working set {point.WorkingSetBytesPerGrain:N0} B/grain" : "")));
                _report.Add(new Figure("memory", $"activation cost ({point.Kind}, {point.Activated:N0} activations)", point.ActivationsPerSecond, "activations/s",
                    null, null, null, null, null, $"{point.CpuMicrosPerActivation:N1} µs CPU per activation (all threads), {point.Seconds} s wall"));
            }

            // The batch figure's ratio against the decision ceiling, now that it is known.
            for (var i = 0; i < _report.Figures.Count; i++)
            {
                var f = _report.Figures[i];
                if (f.Scenario == "batch")
                {
                    _report.Figures[i] = f with { Ceiling = _dictionaryLookups, Ratio = RunReport.RatioOf(f.Value, _dictionaryLookups) };
                }
            }
        }
        finally
        {
            _started.RemoveAll(p => p.Name == "memory");
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (Exception)
            {
            }
        }
    }

    // ---------------------------------------------------------------- diagnostics

    private sealed record CounterRun(string Name, Process Process, string File);

    private List<CounterRun> StartCounters(TimeSpan duration)
    {
        var runs = new List<CounterRun>();
        var tool = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools", "dotnet-counters");
        if (!File.Exists(tool))
        {
            _report.Notes.Add("dotnet-counters is not installed (run.sh installs it with `dotnet tool install -g dotnet-counters` when NuGet serves it); CPU split from /proc only.");
            return runs;
        }

        foreach (var (name, pid, providers) in new[]
                 {
                     ("edge", _edge!.Pid, "System.Runtime,Microsoft.AspNetCore.Hosting[http.server.request.duration],Microsoft.AspNetCore.Server.Kestrel"),
                     ("silo", _silo!.Pid, "System.Runtime,Microsoft.Orleans"),
                 })
        {
            var file = Path.Combine(_logs, $"counters-{name}.json");
            var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "collect", "-p", pid.ToString(), "--format", "json", "-o", file, "--refresh-interval", "1", "--counters", providers,
                         "--duration", duration.Add(TimeSpan.FromSeconds(-1)).ToString(@"dd\:hh\:mm\:ss") })
            {
                start.ArgumentList.Add(a);
            }

            try
            {
                var process = Process.Start(start)!;
                _ = process.StandardOutput.ReadToEndAsync();
                _ = process.StandardError.ReadToEndAsync();
                _cpu.Track("dotnet-counters", () => runs.Where(r => !r.Process.HasExited).Select(r => r.Process.Id).ToArray());
                runs.Add(new CounterRun(name, process, file));
            }
            catch (Exception e)
            {
                _report.Notes.Add($"dotnet-counters for {name} did not start: {e.Message}");
            }
        }

        return runs;
    }

    private async Task CollectCountersAsync(List<CounterRun> runs)
    {
        foreach (var run in runs)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await run.Process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                run.Process.Kill();
            }

            run.Process.Dispose();
            if (!File.Exists(run.File))
            {
                _report.Notes.Add($"dotnet-counters wrote nothing for {run.Name}");
                continue;
            }

            try
            {
                _report.Counters[run.Name] = SummariseCounters(await File.ReadAllTextAsync(run.File));
            }
            catch (Exception e)
            {
                _report.Notes.Add($"dotnet-counters output for {run.Name} could not be read: {e.Message}");
            }
        }
    }

    private static readonly string[] InterestingCounters =
    [
        "cpu", "gc.collections", "gc.heap.total_allocated", "gc.pause.time", "gc.last_collection.heap.size", "thread_pool.queue.length",
        "thread_pool.thread.count", "thread_pool.work_item.count", "lock_contentions", "exceptions", "http.server.request.duration",
        "kestrel.active_connections", "working_set", "time-in-gc", "alloc-rate", "threadpool", "catalog", "activation",
    ];

    private static Dictionary<string, double> SummariseCounters(string json)
    {
        // dotnet-counters may leave the JSON unterminated when stopped; close it if needed.
        var text = json.TrimEnd();
        JsonNode? root = null;
        foreach (var candidate in new[] { text, text.TrimEnd(',') + "]}", text.TrimEnd(',') + "}]}" })
        {
            try
            {
                root = JsonNode.Parse(candidate);
                break;
            }
            catch (JsonException)
            {
            }
        }

        var sums = new Dictionary<string, (double Sum, int Count)>(StringComparer.Ordinal);
        foreach (var e in root?["Events"]?.AsArray() ?? [])
        {
            var name = e?["name"]?.GetValue<string>() ?? "";
            if (!InterestingCounters.Any(i => name.Contains(i, StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            var tags = e?["tags"]?.ToString() ?? "";
            if (name.Contains("request.duration", StringComparison.Ordinal) && !tags.Contains("Percentile", StringComparison.Ordinal))
            {
                continue;
            }

            var key = tags.Length > 0 ? $"{name} [{Shorten(tags)}]" : name;
            var value = e?["value"]?.GetValue<double>() ?? 0;
            sums[key] = sums.TryGetValue(key, out var s) ? (s.Sum + value, s.Count + 1) : (value, 1);
        }

        return sums.OrderBy(kv => kv.Key, StringComparer.Ordinal).Take(40).ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value.Sum / kv.Value.Count, 3));
    }

    private static string Shorten(string tags)
    {
        var parts = tags.Split(',').Where(t => t.Contains("Percentile", StringComparison.Ordinal) || t.Contains("gc.heap.generation", StringComparison.Ordinal)
            || t.Contains("cpu.mode", StringComparison.Ordinal) || t.Contains("http.route", StringComparison.Ordinal));
        return string.Join(',', parts);
    }

    private string MemoryWhere()
    {
        var bare = _report.Figures.FirstOrDefault(f => f.Scenario == "memory" && f.Name.Contains("never written", StringComparison.Ordinal) && f.Unit == "B");
        return $"A never-written subject grain costs {bare?.Value ?? 0:N0} B (the grain object and its persistent-state wrapper, Orleans' activation data, " +
               "message queue and directory entry, the store grain's lease entry); a grant adds the record: one ConsentChoice, one ConsentReceipt " +
               "(a receipt id and two 64-character SHA-256 hex strings of the hash chain, about 400 B of strings) and the immutable dictionary and list nodes holding them. " +
               "The measurement is GC.GetTotalMemory(true) before and after, divided by the count, so a few hundred bytes of it is noise at this count";
    }

    /// <summary>For a missed target: the change that would reach it, as far as this run's figures tell.</summary>
    private static string WhatWouldCloseIt(Figure f) => f.Scenario switch
    {
        "single check" when f.Name.StartsWith("max latency", StringComparison.Ordinal) =>
            "fewer activations in the window (see below): the slowest checks are those of never-asked subjects queued behind other activations.",
        "single check" =>
            "a cheaper request at the edge. Nearly every check is now answered there without a grain call (a subject lease, or the " +
            "store's absence lease for a subject with no record), so what separates the edge from bare Kestrel is the per-request " +
            "work the ceiling does not do: bearer-token authentication and store-scope authorization, the per-token rate limiter, " +
            "routing with two route values and a query string, metrics (a counter per decision, a duration histogram, a cache-lookup " +
            "counter), and serializing a real response (see the edge's CPU per check against the ceiling server's, and the edge profile " +
            "below); plus the lease renewals (one grain call per subject in use every 4-5 s). On two cores wrk itself takes a large " +
            "share of the CPU at these rates.",
        "durable writes" =>
            "more CPU than two cores shared by PostgreSQL, the silo, the edge and the load generator: each first write costs about 1 ms of edge " +
            "and silo CPU (activation read, store-lease call, write, lease revocation, feed announcement, two HTTP/Orleans hops) plus PostgreSQL's " +
            "own share, against 0.09 ms for a raw upsert. PostgreSQL on its own cores (as in docker-compose), or writes to already-active " +
            "subjects (no activation read), move it; the commit itself is not the limit (the raw-upsert ceiling is 4x the target).",
        "memory" =>
            "a smaller record in memory. One grant adds about 690 B to a never-written grain: the record, its immutable dictionary and list, the " +
            "choice, and a receipt whose id and SHA-256 hash are kept as text (about 330 B with the receipt object). Receipts are proof, read " +
            "only by exports and by the next append: kept in memory as their serialized bytes (or as a separate state read on demand), with ids " +
            "and hashes as bytes, a grant would add about 250 B, inside the budget; the rest is Orleans' own per-activation data " +
            "(the never-written grain's figure).",
        _ => "see the profile below.",
    };

    private void Diagnose()
    {
        CpuWindow? Window(string prefix) => _report.Cpu.FirstOrDefault(c => c.Scenario.StartsWith(prefix, StringComparison.Ordinal));
        string Split(CpuWindow? window)
        {
            if (window is null)
            {
                return "no CPU sample";
            }

            var u = window.Usage;
            var text = $"machine {u.MachineBusyPercent:0} % of {Environment.ProcessorCount * 100} %: " +
                       string.Join(", ", u.GroupPercent.Where(g => g.Value >= 1).OrderByDescending(g => g.Value).Select(g => $"{g.Key} {g.Value:0} %")) +
                       $", interrupts {u.InterruptPercent:0} %, other work on the machine {u.OtherPercent:0} %";
            if (window.MicrosPerOperation.Count > 0)
            {
                text += $"; CPU per {window.Operation?.TrimEnd('s')}: " +
                        string.Join(", ", window.MicrosPerOperation.OrderByDescending(m => m.Value).Select(m => $"{m.Key} {m.Value:0.#} µs"));
            }

            return text;
        }

        double Micros(CpuWindow? window, string group) => window?.MicrosPerOperation.GetValueOrDefault(group) ?? 0;

        var missed = _report.Figures.Where(f => f.Met == false).ToList();
        foreach (var f in missed)
        {
            var where = f.Scenario switch
            {
                "single check" when f.Name.StartsWith("max latency", StringComparison.Ordinal) => Split(Window("open loop 50")),
                "single check" => Split(Window("single check, edge, wrk")),
                "durable writes" => Split(Window("durable writes")),
                "batch" => Split(Window("batch")),
                "write-to-SignalR" => Split(Window("write-to-SignalR, edge")),
                "memory" => MemoryWhere(),
                _ => "",
            };
            _report.Diagnosis.Add($"**{f.Scenario}: {f.Name}** = {f.Value:0.###} {f.Unit} (target {f.Target}). {where}. " +
                $"What would close it: {WhatWouldCloseIt(f)}");
        }

        // Single check: the product's CPU per check against the ceiling's, and what the cold tail costs.
        var check = Window("single check, edge, wrk");
        var hot = Window("single check, edge, 1,000");
        var bare = Window("HTTP ceiling");
        if (check is not null && bare is not null && missed.Any(f => f.Scenario == "single check"))
        {
            var product = Micros(check, "edge") + Micros(check, "silo") + Micros(check, "postgres") + Micros(check, "redis");
            var ceiling = Micros(bare, "ceiling server");
            var hotProduct = Micros(hot, "edge") + Micros(hot, "silo");
            _report.Diagnosis.Add(
                $"Single check, per request: the edge + silo + PostgreSQL spend {product:0} µs of CPU per check over the 1M key space " +
                $"({(hot is null ? "" : $"{hotProduct:0} µs when every asked subject is already active, ")}bare Kestrel {ceiling:0} µs per request). " +
                "Two cores give at most 2,000,000 µs/s, shared with the load generator, so the check rate is bounded by about " +
                $"{(product > 0 ? 2e6 / (product + Micros(check, "wrk")) : 0):N0}/s here against {(ceiling > 0 ? 2e6 / (ceiling + Micros(bare, "wrk")) : 0):N0}/s for the ceiling: " +
                "what the ceiling does not pay is authentication, authorization and rate limiting, metrics, JSON of a real response, and for the checks " +
                "that need a new subject lease (first asks of a subject with a record, and renewals of 5 s leases) the grain call from the edge process to the " +
                "silo process (Orleans serialization, socket writes and reads on loopback, the silo's scheduler); subjects without a record are decided " +
                "from their store's absence lease, without a grain call.");
        }

        if (missed.Any(f => f.Name.StartsWith("p99 at", StringComparison.Ordinal)) && _ceilingP99 > 5)
        {
            _report.Diagnosis.Add(
                $"p99 ≤ 5 ms at 64 connections is more than this machine, as loaded during the run, gives even without the product: the bare Kestrel ceiling itself had p99 {_ceilingP99:0.#} ms " +
                "under the same wrk load (wrk, the server and the other work on the machine share two cores; a closed loop of 64 connections keeps every core busy, " +
                "so every request waits its turn in the run queue).");
        }

        if (_report.Counters.TryGetValue("edge", out var edgeCounters))
        {
            var serverP99 = edgeCounters.FirstOrDefault(c => c.Key.StartsWith("http.server.request.duration", StringComparison.Ordinal) && c.Key.Contains("Percentile=99", StringComparison.Ordinal)).Value;
            var single = _report.Figures.FirstOrDefault(f => f.Name.StartsWith("p99 at", StringComparison.Ordinal));
            if (serverP99 > 0 && single is not null)
            {
                var activationP99 = _report.Counters.GetValueOrDefault("silo")?.FirstOrDefault(c => c.Key.StartsWith("orleans-catalog-activation-latency", StringComparison.Ordinal)
                    && c.Key.Contains("Percentile=99", StringComparison.Ordinal)).Value ?? 0;
                var activationRate = _report.Counters.GetValueOrDefault("silo")?.FirstOrDefault(c => c.Key.StartsWith("orleans-catalog-activation-created", StringComparison.Ordinal)).Value ?? 0;
                var inside = serverP99 * 1000 / single.Value;
                _report.Diagnosis.Add(
                    $"Latency at 64 connections: the edge's own http.server.request.duration p99 (dotnet-counters run of the same load; inside ASP.NET Core, grain call included) averaged {serverP99 * 1000:0.#} ms " +
                    $"against p99 {single.Value:0.#} ms at the client, so {(inside >= 0.7 ? "most of the tail is inside the request: the grain call" : "much of the tail is outside the app: waiting for a core, Kestrel and socket buffers")}. " +
                    (activationRate >= 1
                        ? $"Meanwhile the silo created {activationRate:N0} activations/s (subjects with a record asked for the first time) with activation latency p99 {activationP99:0.#} ms " +
                          "(a PostgreSQL read and a store-lease call each); checks queue behind them for CPU, and a check of a cold subject waits for its activation."
                        : "The silo created no activations meanwhile: subjects without a record were decided from their stores' absence leases."));
            }
        }

        if (_report.Counters.TryGetValue("silo", out var siloCounters))
        {
            var contention = siloCounters.FirstOrDefault(c => c.Key.StartsWith("dotnet.monitor.lock_contentions", StringComparison.Ordinal)).Value;
            var gcPause = siloCounters.FirstOrDefault(c => c.Key.StartsWith("dotnet.gc.pause.time", StringComparison.Ordinal)).Value;
            _report.Diagnosis.Add(
                $"Silo under the single-check load (the dotnet-counters run): {contention:0} lock contentions/s (dotnet-counters' own meter listener adds to the observable-instrument collection while it runs), GC pause {gcPause * 100:0.#} % of the time, " +
                $"GC mode {_report.Machine.GetValueOrDefault("silo GC", "?")} (the Silo project does not set ServerGarbageCollection; the edge, a web project, runs server GC).");
        }

        foreach (var (process, frames) in _allFrames)
        {
            // Shares come from the top 80 frames of the report; a frame outside them is below the 80th frame's share.
            var floor = frames.Count > 0 ? frames[^1].InclusivePercent : 0;
            string Share(string contains)
            {
                var share = frames.Where(f => f.Frame.Contains(contains, StringComparison.Ordinal)).Select(f => f.InclusivePercent).DefaultIfEmpty(-1).Max();
                return share < 0 ? $"< {floor:0.#} %" : $"{share:0.#} %";
            }

            bool Has(string contains) => frames.Any(f => f.Frame.Contains(contains, StringComparison.Ordinal));
            var parts = new List<string>
            {
                $"system calls {Share("do_syscall_64")}",
                $"thread-pool workers spinning in sched_yield (LowLevelLifoSemaphore.Wait) {Share("sched_yield")}",
            };
            if (Has("PeriodicExportingMetricReaderThreadWorker"))
            {
                parts.Add($"OpenTelemetry periodic metric collection {Share("PeriodicExportingMetricReaderThreadWorker")}" +
                          (process.StartsWith("silo", StringComparison.Ordinal)
                              ? " (the Orleans Dashboard's own MeterProvider, registered by AddDashboard() in SiloHostingExtensions, collecting Orleans' observable instruments on a timer" +
                                (Has("DirectoryInstruments::ObserveCacheSize") ? $"; of it DirectoryInstruments.ObserveCacheSize, a count over the grain directory cache, {Share("DirectoryInstruments::ObserveCacheSize")}" : "") + ")"
                              : ""));
            }

            if (Has("RelationalStorage"))
            {
                parts.Add($"Orleans ADO.NET storage {Share("RelationalStorage")} (reads, i.e. activations: {Share("ReadAsync")}; writes: {Share("WriteStateAsync")})");
            }

            if (Has("Npgsql"))
            {
                parts.Add($"Npgsql {Share("Npgsql")}");
            }

            if (Has("AuthenticationMiddleware"))
            {
                parts.Add($"ASP.NET Core pipeline from the authentication middleware inward (inclusive of the endpoint and the grain call) {Share("AuthenticationMiddleware")}");
            }

            if (Has("OutgoingCallInvoker"))
            {
                parts.Add($"the Orleans client call (OutgoingCallInvoker) {Share("OutgoingCallInvoker")}");
            }

            _report.Diagnosis.Add($"CPU profile of the {process} (share of its CPU samples with the frame on the stack): {string.Join("; ", parts)}.");
        }

        var writes = Window("durable writes");
        var pgCeiling = Window("PostgreSQL ceiling");
        if (writes is not null && missed.Any(f => f.Scenario == "durable writes"))
        {
            _report.Diagnosis.Add(
                $"Durable writes: PostgreSQL alone reached {_pgCeilingRate:N0} upserts/s with the same 32-way concurrency on this machine ({Split(pgCeiling)}). " +
                $"Through the product each write costs {Micros(writes, "edge") + Micros(writes, "silo"):0} µs of edge + silo CPU on top of {Micros(writes, "postgres"):0} µs in PostgreSQL " +
                "(first writes: activation = a read of the missing row, the store-lease call, then the insert; the feed announcement; " +
                "and the HTTP and Orleans hops), so the CPU, not the commit, bounds the rate on two cores.");
        }

        var batch = Window("batch");
        if (batch is not null && missed.Any(f => f.Scenario == "batch"))
        {
            _report.Diagnosis.Add(
                $"Batch: {Micros(batch, "edge"):0.##} µs of edge CPU and {Micros(batch, "silo"):0.##} µs of silo CPU per decision. The edge makes one grain call per distinct subject " +
                $"({_batchDistinct:N0} distinct subjects per 10,000-item batch under this skew), each a Decide message serialized, " +
                "sent to the silo, scheduled on the grain and answered; plus parsing 10,000 JSON items and writing 10,000 results. " +
                $"1,000,000 decisions/s needs ≤ 2 µs of CPU per decision in total on two cores; the dictionary ceiling runs at {_dictionaryLookups:N0} lookups/s.");
        }

        var single2 = Window("single check, edge, wrk");
        if (single2 is not null)
        {
            var generator = single2.Usage.GroupPercent.GetValueOrDefault("wrk");
            _report.Notes.Add($"On {Environment.ProcessorCount} cores the load generator competes with the server: wrk used {generator:0} % of one core during the single-check window; " +
                              "the open-loop generator (this harness, .NET HttpClient) costs more per request than wrk (see 'harness' in the CPU table), so its high-load points include generator queueing.");
        }

        var busiest = _report.Cpu.Where(c => !c.Scenario.StartsWith("memory", StringComparison.Ordinal)).DefaultIfEmpty().MaxBy(c => c?.Usage.OtherPercent ?? 0);
        if (busiest is not null && busiest.Usage.OtherPercent >= 10)
        {
            var average = _report.Cpu.Average(c => c.Usage.OtherPercent);
            _report.Notes.Add($"**Other work was running on this machine during the run** (other engineers' builds and test runs): on average {average:0} % of one core " +
                              $"(up to {busiest.Usage.OtherPercent:0} % in '{busiest.Scenario}') was used by processes not part of this run; " +
                              $"load average {_report.LoadAverageBefore} before, {_report.LoadAverageAfter} after. Every throughput figure is lower, and every tail latency higher, than on a quiet machine; " +
                              "the ceilings were measured under the same conditions, so the ratios are the fairer comparison.");
        }

        if (_otherProcesses.Count > 0)
        {
            var total = (_report.FinishedAt - _report.StartedAt).TotalSeconds;
            _report.Notes.Add($"Processes outside this run that used the most CPU during it ({total:0} s, {Environment.ProcessorCount * total:0} core-seconds available): " +
                              string.Join("; ", _otherProcesses.Select(p => $"`{p.Command.Replace('`', '\'')}` {p.CpuSeconds:0.#} s")));
            _report.Scenarios["otherProcesses"] = _otherProcesses.Select(p => new { p.Pid, p.Command, p.CpuSeconds }).ToArray();
        }
    }

    // ---------------------------------------------------------------- machine

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (Exception)
        {
            return "?";
        }
    }

    private async Task<Dictionary<string, string>> MachineAsync()
    {
        var machine = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["cores"] = Environment.ProcessorCount.ToString(),
            ["cpu"] = Read("/proc/cpuinfo").Split('\n').FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?",
            ["memory"] = Read("/proc/meminfo").Split('\n').FirstOrDefault(l => l.StartsWith("MemTotal", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?",
            ["os"] = Read("/etc/os-release").Split('\n').FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?.Split('=', 2)[1].Trim('"') ?? RuntimeInformation.OSDescription,
            ["kernel"] = Read("/proc/sys/kernel/osrelease").Trim(),
            [".NET"] = RuntimeInformation.FrameworkDescription,
            ["silo GC"] = GcMode(options.SiloDll),
            ["edge GC"] = GcMode(options.EdgeDll),
            ["wrk"] = (await Tool("wrk", "-v")).Split('\n')[0].Trim(),
            ["redis"] = options.Redis,
        };
        if (machine["cpu"].Length < 12)
        {
            var flags = Read("/proc/cpuinfo").Split('\n').FirstOrDefault(l => l.StartsWith("cpu MHz", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
            machine["cpu"] += flags is null ? "" : $" ({flags} MHz)";
        }

        return machine;
    }

    private static string GcMode(string dll)
    {
        var config = Path.ChangeExtension(dll, ".runtimeconfig.json");
        try
        {
            var node = JsonNode.Parse(File.ReadAllText(config));
            var server = node?["runtimeOptions"]?["configProperties"]?["System.GC.Server"]?.GetValue<bool>() ?? false;
            return server ? "server" : "workstation";
        }
        catch (Exception)
        {
            return "?";
        }
    }

    private static string Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception)
        {
            return "";
        }
    }

    private static async Task<string> Tool(string tool, params string[] arguments)
    {
        try
        {
            var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in arguments)
            {
                start.ArgumentList.Add(a);
            }

            using var process = Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return output;
        }
        catch (Exception)
        {
            return "?";
        }
    }
}
