using System.Diagnostics;
using System.Net;
using Npgsql;

namespace ShopAstro.LoadTests;

/// <summary>The processes of a run: PostgreSQL database, silo, edge API and ceiling server; started, replaced and stopped.</summary>
internal sealed class Cluster(RunContext run)
{
    internal int PostgresPort() => new NpgsqlConnectionStringBuilder(run.Options.PostgresAdmin).Port;

    internal async Task CreateDatabaseAsync()
    {
        run.Database = "shopastro_load_" + run.Stamp;
        await using (var admin = new NpgsqlConnection(run.Options.PostgresAdmin))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {run.Database}", admin);
            await create.ExecuteNonQueryAsync();
            await using var version = new NpgsqlCommand("SHOW server_version", admin);
            run.Report.Machine["postgresql"] = (string)(await version.ExecuteScalarAsync())!;
            foreach (var setting in new[] { "synchronous_commit", "fsync", "shared_buffers", "max_connections" })
            {
                await using var show = new NpgsqlCommand($"SHOW {setting}", admin);
                run.Report.Machine["postgresql"] += $", {setting}={await show.ExecuteScalarAsync()}";
            }
        }

        run.ConsentConnection = new NpgsqlConnectionStringBuilder(run.Options.PostgresAdmin) { Database = run.Database }.ConnectionString;
        Console.WriteLine($"database {run.Database} created");
    }

    internal async Task DropDatabaseAsync()
    {
        if (run.Options.KeepDatabase || run.Database.Length == 0)
        {
            return;
        }

        try
        {
            NpgsqlConnection.ClearAllPools();
            await using var admin = new NpgsqlConnection(run.Options.PostgresAdmin);
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {run.Database} WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }
        catch (Exception e)
        {
            run.Report.Notes.Add($"could not drop database {run.Database}: {e.Message}");
        }
    }

    internal Dictionary<string, string> ClusterSettings(Dictionary<string, string> extra)
    {
        extra["ConnectionStrings__Redis"] = run.Options.Redis;
        extra["ConnectionStrings__Consent"] = run.ConsentConnection;
        extra["Orleans__ClusterId"] = "load-" + run.Stamp;
        extra["Consent__AnonymisationKey"] = run.AnonymisationKey;
        return WithProductSettings(extra);
    }

    /// <summary>The settings given with --setting KEY=VALUE (configuration keys, e.g. Consent:DecisionLease), for every product process.</summary>
    private Dictionary<string, string> WithProductSettings(Dictionary<string, string> extra)
    {
        foreach (var (key, value) in run.Options.Settings ?? [])
        {
            extra[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        return extra;
    }

    internal ServiceProcess StartSilo(string log)
    {
        var silo = ServiceProcess.Start("silo", run.Options.SiloDll, ClusterSettings(new()
        {
            ["Orleans__SiloPort"] = ServiceProcess.FreePort().ToString(),
            ["Orleans__GatewayPort"] = ServiceProcess.FreePort().ToString(),
        }), Path.Combine(run.Logs, log));
        run.Started.Add(silo);
        return silo;
    }

    /// <summary>What every edge process of the run gets: its URL, the two tokens, and rate limits the load cannot reach.</summary>
    private Dictionary<string, string> EdgeSettings(Dictionary<string, string> extra)
    {
        extra["ASPNETCORE_URLS"] = run.EdgeUrl;
        extra["Auth__Tokens__0__Token"] = RunContext.StorefrontToken;
        extra["Auth__Tokens__0__Role"] = "storefront";
        extra["Auth__Tokens__0__Stores__0"] = "*";
        extra["Auth__Tokens__1__Token"] = RunContext.AdminToken;
        extra["Auth__Tokens__1__Role"] = "admin";
        extra["Auth__Tokens__1__Stores__0"] = "*";
        extra["RateLimits__PermitsPerSecond"] = "10000000";
        extra["RateLimits__Burst"] = "10000000";
        WithProductSettings(extra);
        run.EdgeEnvironment = extra;
        return extra;
    }

    internal async Task StartClusterAsync()
    {
        run.Silo = StartSilo("silo.log");
        run.EdgeUrl = $"http://127.0.0.1:{ServiceProcess.FreePort()}";
        run.Edge = ServiceProcess.Start("edge", run.Options.EdgeDll, EdgeSettings(ClusterSettings([])), Path.Combine(run.Logs, "edge.log"));
        run.Started.Add(run.Edge);
        var silo = run.Silo;
        run.Cpu.Track("silo", () => silo.HasExited ? [] : [silo.Pid]);
        run.Cpu.Track("edge", run.Edge.Pid);
        var watch = Stopwatch.StartNew();
        await run.Edge.WaitForHttpAsync(run.EdgeUrl + "/health/ready", TimeSpan.FromSeconds(120));
        Console.WriteLine($"edge ready at {run.EdgeUrl} after {watch.Elapsed.TotalSeconds:0.0} s (silo pid {run.Silo.Pid}, edge pid {run.Edge.Pid})");
        run.Report.Scenarios["startup"] = new { edgeReadySeconds = Math.Round(watch.Elapsed.TotalSeconds, 1), run.EdgeUrl, database = run.Database, cluster = "load-" + run.Stamp };
    }

    /// <summary>
    /// The embedded default as <c>dotnet run --project EdgeApi</c> runs it: the edge alone, its silo in process, SQLite
    /// in a fresh folder, no Redis, no anonymisation key configured (the embedded default makes its own).
    /// </summary>
    internal async Task<double> StartEmbeddedAsync(string dataFolder)
    {
        Directory.CreateDirectory(dataFolder);
        run.EdgeUrl = $"http://127.0.0.1:{ServiceProcess.FreePort()}";
        run.Silo = null;
        run.Edge = ServiceProcess.Start("edge (embedded)", run.Options.EdgeDll, EdgeSettings(new()
        {
            ["ConnectionStrings__Consent"] = $"Data Source={Path.Combine(dataFolder, "consent.db")}",
        }), Path.Combine(run.Logs, "edge-embedded.log"));
        run.Started.Add(run.Edge);
        run.Cpu.Track("silo", () => []);
        run.Cpu.Track("edge", run.Edge.Pid);
        var watch = Stopwatch.StartNew();
        await run.Edge.WaitForHttpAsync(run.EdgeUrl + "/health/ready", TimeSpan.FromSeconds(120));
        Console.WriteLine($"embedded edge ready at {run.EdgeUrl} after {watch.Elapsed.TotalSeconds:0.0} s (pid {run.Edge.Pid})");
        return Math.Round(watch.Elapsed.TotalSeconds, 1);
    }

    /// <summary>
    /// The ceiling server, with the edge's runtime settings (<see cref="RuntimeKnobs"/>) and the run's key space preloaded
    /// for the batch ceiling, started unless it is up: the first scenario that compares with it starts it, and it stays
    /// up until the end of the run, for the embedded default's comparisons too.
    /// </summary>
    internal async Task EnsureCeilingAsync()
    {
        if (run.Ceiling is { HasExited: false })
        {
            return;
        }

        var port = ServiceProcess.FreePort();
        run.CeilingUrl = $"http://127.0.0.1:{port}";
        var runtimeConfig = RuntimeKnobs.CeilingRuntimeConfig(run.Options.HarnessDll, run.Options.EdgeDll, run.Logs);
        run.Ceiling = ServiceProcess.StartWithRuntimeConfig("ceiling", run.Options.HarnessDll, runtimeConfig,
            RuntimeKnobs.RuntimeEnvironment(run.EdgeEnvironment), Path.Combine(run.Logs, "ceiling.log"),
            "ceiling-server", "--port", port.ToString(), "--subjects", run.Keys.Subjects.ToString(), "--stores", run.Keys.Stores.ToString());
        run.Started.Add(run.Ceiling);
        run.Cpu.Track("ceiling server", run.Ceiling.Pid);
        await run.Ceiling.WaitForHttpAsync(run.CeilingUrl + "/health/ready", TimeSpan.FromSeconds(60));
        run.Report.Machine["ceiling runtime"] = $"as the edge: {RuntimeKnobs.Describe(run.Options.EdgeDll)} (dotnet exec --runtimeconfig {runtimeConfig})";
    }

    /// <summary>Stops the silo and the edge (graceful), leaving the ceiling server up.</summary>
    internal async Task StopClusterAsync()
    {
        foreach (var process in new[] { run.Edge, run.Silo })
        {
            if (process is not null)
            {
                await process.DisposeAsync();
                run.Started.Remove(process);
            }
        }

        run.Edge = null;
        run.Silo = null;
    }

    internal void KillStarted()
    {
        foreach (var process in run.Started.ToArray())
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

    internal async Task StopAllAsync()
    {
        foreach (var process in Enumerable.Reverse(run.Started))
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

        run.Started.Clear();
    }


    internal async Task PublishPoliciesAsync()
    {
        using var http = run.Http(run.EdgeUrl, RunContext.AdminToken);
        await Parallel.ForEachAsync(Enumerable.Range(0, run.Profile.Stores), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (s, ct) =>
        {
            using var response = await http.PutAsync($"/v1/stores/{KeySpace.StoreId(s)}/policy", RunContext.Json(
                """{"version":1,"status":"active","sellerAttestation":true,"purposes":{"analytics":{"enabled":true,"materialChange":false},"recommendation":{"enabled":true,"materialChange":false}}}"""), ct);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"policy of store {s}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
            }
        });
    }

    /// <summary>What the started processes use when nothing is asked of them (timers, membership, feed renewals, JIT).</summary>
    internal async Task IdleBaselineAsync()
    {
        await Task.Delay(TimeSpan.FromSeconds(1));
        var from = run.Cpu.Now;
        await Task.Delay(TimeSpan.FromSeconds(3));
        run.Report.Cpu.Add(new CpuWindow("idle baseline (cluster started, no load)", run.Cpu.Between(from, run.Cpu.Now)));
    }

    internal async Task WaitUntilServingAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        using var http = run.Http(run.EdgeUrl, RunContext.StorefrontToken);
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
}
