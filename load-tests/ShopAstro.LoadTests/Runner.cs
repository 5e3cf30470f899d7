using System.Runtime.InteropServices;

namespace ShopAstro.LoadTests;

/// <summary>
/// The whole run: the operator topology (one silo process and one edge API process, PostgreSQL storage, Redis
/// membership), every scenario with its ceiling, then the report. Everything it starts it stops.
/// </summary>
public sealed class Runner
{
    private readonly RunContext _run;
    private readonly Cluster _cluster;
    private readonly Profiler _profiler;
    private readonly Counters _counters;

    public Runner(RunOptions options)
    {
        _run = new RunContext(options);
        _cluster = new Cluster(_run);
        _profiler = new Profiler(_run);
        _counters = new Counters(_run);
    }

    public async Task<int> RunAsync()
    {
        var run = _run;
        var report = run.Report;
        // Interrupted (Ctrl-C, run.sh's trap): end what this run started, then let the default handling exit.
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => _cluster.KillStarted());
        using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => _cluster.KillStarted());
        report.Profile = run.Profile.Name;
        report.Command = run.Options.Command;
        if (run.Options.Settings is { Count: > 0 } settings)
        {
            report.Notes.Add($"Product settings of this run (--setting): {string.Join(", ", settings.Select(s => $"{s.Key}={s.Value}"))}; every other setting is the product's default.");
        }

        report.StartedAt = DateTimeOffset.UtcNow;
        report.LoadAverageBefore = MachineInfo.LoadAverage();
        report.Machine = await MachineInfo.MachineAsync(run.Options);
        run.Logs = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(run.Options.HarnessDll)!, "..", "logs", run.Stamp));
        Directory.CreateDirectory(run.Logs);
        await using (run.Cpu = new CpuSampler())
        {
            run.Cpu.Track("harness", Environment.ProcessId);
            run.Cpu.Track("postgres", () => CpuSampler.PostgresPids(_cluster.PostgresPort(), run.Database));
            var redisPort = run.Options.Redis.Split(':').Last();
            run.Cpu.Track("redis", () => CpuSampler.PidsByCommand("redis-server", ":" + redisPort));
            run.Cpu.Track("wrk", () => CpuSampler.PidsByCommand("wrk"));
            run.Cpu.Track("dotnet-trace", () => CpuSampler.PidsByCommand("dotnet-trace"));
            try
            {
                await _cluster.CreateDatabaseAsync();
                await _cluster.StartClusterAsync();
                await Step("policies", _cluster.PublishPoliciesAsync);
                await Step("idle baseline", _cluster.IdleBaselineAsync);
                await Step("durable writes", new WritesScenario(run, _cluster, _profiler).DurableWritesAsync);
                if (run.Options.Only is null or "checks" or "sweep")
                {
                    await Step("single check", new CheckScenario(run, _cluster, _profiler, _counters).SingleCheckAsync);
                }

                if (run.Options.Only is "sweep")
                {
                    await Step("open-loop sweep", new SweepScenario(run).SweepAsync);
                }

                if (run.Options.Only is "batch")
                {
                    await Step("batch", new BatchScenario(run, _cluster).BatchAsync);
                }

                if (run.Options.Only is null)
                {
                    await Step("open-loop sweep", new SweepScenario(run).SweepAsync);
                    await Step("batch", new BatchScenario(run, _cluster).BatchAsync);
                    await Step("write-to-SignalR", new FeedScenario(run).FeedAsync);
                    await Step("embedded default", new EmbeddedScenario(run, _cluster, _profiler, _counters).RunAsync);
                }
                else
                {
                    report.Notes.Add(run.Options.Only switch
                    {
                        "writes" => "Only the durable writes were run (--only writes): a figure for working on one path, not a report of the targets.",
                        "checks" => "Only the durable writes and the single check were run (--only checks): figures for working on one path, not a report of the targets.",
                        "sweep" => "Only the durable writes, the single check and the open-loop sweep were run (--only sweep): figures for working on one path, not a report of the targets.",
                        _ => "Only the durable writes and the batch were run (--only batch; no single check before it, so the edge's leases are the batch's own): figures for working on one path, not a report of the targets.",
                    });
                }
            }
            catch (Exception e)
            {
                report.Failures.Add($"run aborted: {e.GetType().Name}: {e.Message}");
                Console.Error.WriteLine(e);
            }
            finally
            {
                await _cluster.StopAllAsync();
            }

            // The in-process measurement runs alone, after the cluster is stopped.
            if (run.Options.Only is null)
            {
                await Step("memory per grain", new MemoryScenario(run).MemoryAsync);
            }

            await _cluster.DropDatabaseAsync();
        }

        await _profiler.ReportProfilesAsync();
        report.LoadAverageAfter = MachineInfo.LoadAverage();
        report.FinishedAt = DateTimeOffset.UtcNow;
        run.OtherProcesses = run.Cpu.TopOthers(8);
        new Diagnosis(run).Diagnose();
        report.Notes.Add($"Process logs of this run (not committed): {run.Logs}");
        await report.WriteAsync(run.Options.OutputFolder);
        Console.WriteLine(File.ReadAllText(Path.Combine(run.Options.OutputFolder, "report.md")));
        return report.Failures.Count == 0 ? 0 : 2;
    }

    private async Task Step(string name, Func<Task> step)
    {
        Console.WriteLine($"[{_run.Cpu.Now,6:0.0}s] {name} ...");
        try
        {
            await step();
        }
        catch (Exception e)
        {
            _run.Report.Failures.Add($"{name}: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
            Console.Error.WriteLine($"{name} failed: {e}");
            if (_run.Edge is { HasExited: true } || _run.Silo is { HasExited: true })
            {
                throw;
            }
        }
    }
}
