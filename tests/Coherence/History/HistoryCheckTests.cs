using Xunit.Abstractions;

namespace ShopAstro.Tests.Coherence.History;

/// <summary>
/// The history check over real processes: two silos, three edges, PostgreSQL and Redis, each in a network namespace
/// of its own; a workload of grants, withdrawals, minor flags, cancellations, deletions, policy publishes and checks,
/// recorded with start and end times, under kill -9, SIGSTOP/SIGCONT, PostgreSQL write failures and partitions; S1-S4
/// checked over the whole history. <c>SHOPASTRO_HISTORY_SECONDS</c> sets the length (CI: 60 s;
/// load-tests/coherence.sh history: 600 s), <c>SHOPASTRO_HISTORY_SEED</c> the workload's random seed.
/// </summary>
[Collection(nameof(Faults.FaultsCollection))]
public sealed class HistoryCheckTests(ITestOutputHelper output)
{
    private static TimeSpan Duration =>
        TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable("SHOPASTRO_HISTORY_SECONDS"), out var seconds) ? seconds : 60);

    /// <summary>What <c>MembershipConfirmation</c> logs when a silo's membership row names it dead.</summary>
    private const string DeclaredDeadLog = "its activations answer nothing from now on";

    [Fact]
    public async Task A_history_of_writes_and_checks_under_kills_pauses_write_failures_and_partitions_keeps_S1_to_S4()
    {
        await using var cluster = await HistoryCluster.StartAsync();
        var workload = new HistoryWorkload(cluster, subjects: 12);
        await workload.PublishFirstAsync();
        await workload.RunAsync(Duration);
        await workload.CheckFinalStateAsync();

        var log = workload.Log;
        var violations = log.Check();
        var faults = string.Join(", ", workload.Injected.OrderBy(f => f.Key).Select(f => $"{f.Key} {f.Value}"));
        output.WriteLine(
            $"HISTORY: {Duration.TotalSeconds:F0} s, {log.Checks.Count + workload.Writes:N0} operations checked ({log.Checks.Count:N0} checks answered, " +
            $"{log.FailedChecks:N0} failed; {workload.Writes:N0} writes and publishes: {workload.AckedWrites:N0} acknowledged, " +
            $"{workload.FailedWrites:N0} failed, {workload.NotStoredWrites:N0} of them known not stored), faults: {faults}; " +
            $"silos that read themselves declared dead and stopped answering: {cluster.CountInSiloOutput(DeclaredDeadLog)}; violations: {violations.Count}");
        foreach (var violation in violations.Take(20))
        {
            output.WriteLine(violation);
        }

        foreach (var subject in violations.Select(v => System.Text.RegularExpressions.Regex.Match(v, @"checked (\S+) in")).Where(m => m.Success).Select(m => m.Groups[1].Value).Distinct().Take(3))
        {
            output.WriteLine($"--- {subject} ---\n{workload.Describe(subject)}");
        }

        Assert.True(violations.Count == 0, string.Join("\n", violations.Take(20)) + "\n" + cluster.Describe());
        // Not vacuous: the run decided, wrote and failed.
        Assert.True(log.Checks.Count > 500, $"only {log.Checks.Count} checks answered\n{cluster.Describe()}");
        Assert.True(workload.AckedWrites > 100, $"only {workload.AckedWrites} writes acknowledged\n{cluster.Describe()}");
        Assert.True(workload.Injected.Values.Sum() >= Duration.TotalSeconds / 10, $"only {faults} injected");
    }
}
