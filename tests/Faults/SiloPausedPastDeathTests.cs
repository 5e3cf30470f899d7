using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Faults;

/// <summary>
/// The membership fence over real processes: a silo stopped (SIGSTOP) for longer than the cluster takes to declare it
/// dead is replaced; when it resumes, its first read of the membership table names it dead and its activations answer
/// nothing from then on (docs/coherence.md, "one activation per grain"). The protocol's proof is the simulation's;
/// this shows the silo's wiring: the confirmation loop runs, reads its own row and disowns the silo.
/// </summary>
[Collection("faults")]
public sealed class SiloPausedPastDeathTests(ITestOutputHelper output)
{
    private const string Store = "faults-paused";
    private const string DisownedLog = "its activations answer nothing from now on";

    [Fact]
    public async Task A_silo_paused_past_its_death_declaration_reads_itself_dead_when_it_resumes()
    {
        var redis = ServiceProcess.RedisOrFail();
        await using var database = await TestDatabase.PostgresAsync();
        await using var cluster = new FaultCluster(redis, database.ConnectionString);
        await cluster.RunAsync(async () =>
        {
            var paused = await cluster.StartSiloAsync();
            await cluster.StartSiloAsync();
            var edge = await cluster.StartEdgeAsync();
            using var client = FaultCluster.Client(edge.Url, TimeSpan.FromSeconds(30));
            await (await client.PublishPolicyAsync(Store, 1)).ShouldBeOkAsync();

            paused.Pause();
            // Declared dead after two missed probes of a second, once nothing was heard from it for Orleans' monitoring
            // window (8 s with these settings: it suppresses the vote for a silo heard from more recently).
            await Task.Delay(TimeSpan.FromSeconds(15));
            Assert.DoesNotContain(DisownedLog, paused.Output);
            paused.Resume();

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (!paused.Output.Contains(DisownedLog, StringComparison.Ordinal) && !paused.HasExited && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            await Task.Delay(500); // what the process wrote before it ended
            output.WriteLine(paused.Output[^Math.Min(paused.Output.Length, 3000)..]);
            Assert.Contains(DisownedLog, paused.Output);

            // The cluster goes on without it.
            await (await client.SetConsentAsync(Store, "after-pause", "analytics", true)).ShouldBeOkAsync();
            Assert.True((await client.DecideAsync(Store, "after-pause", "analytics")).Allowed);
        });
    }
}
