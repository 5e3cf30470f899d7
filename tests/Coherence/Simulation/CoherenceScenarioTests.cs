using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Coherence.Simulation;

/// <summary>
/// The sequences that broke the protocol before it had one home, each scripted step by step in the simulation
/// (no random faults) over the real protocol code. Each ends with the check that answered wrongly then, and S1-S4
/// over the whole history.
/// </summary>
public sealed class CoherenceScenarioTests
{
    private static readonly TimeSpan Millisecond = TimeSpan.FromMilliseconds(1);

    [Fact]
    public void A_first_write_that_skips_an_unresponsive_edge_delays_a_later_minor_until_that_edge_no_longer_decides_the_subject_as_absent()
    {
        var cluster = new SimCluster(1, SimFaults.None);
        var (edge, other) = (cluster.Edges[0], cluster.Edges[1]);
        SubjectRecord? afterMinor = SubjectRecord.Empty;
        Script(cluster, async () =>
        {
            // u1 and u2 are activated long before (no earlier activation's lease can be out when they are written).
            await EdgeDecidesAsAbsentAsync(cluster, edge, other, "u1", "u2");

            // The edge can no longer hear from the store's silo (it still holds its absence lease).
            cluster.Network.Cut(edge.Process, cluster.Control.Process);
            // u2's first write cannot tell that edge: the store's silo marks it unresponsive.
            Assert.NotNull(await cluster.WriteAsync("u2", SimOp.Grant));
            // u1's first write skips that edge at once: it may still decide u1 as absent until its lease runs out.
            Assert.NotNull(await cluster.WriteAsync("u1", SimOp.Grant));
            Assert.Equal(SubjectStatus.Minor, (await cluster.WriteAsync("u1", SimOp.Minor))!.Status);
            afterMinor = await cluster.CheckAsync(edge, "u1");
        });

        Assert.Equal(SubjectStatus.Minor, afterMinor?.Status);
        Assert.Empty(cluster.History.Check());
    }

    /// <summary>
    /// Found by the simulation once it checked a subject nobody writes beside policy publishes (seed 936 of 1,000): the
    /// knowledge that an edge may still decide a subject as absent was kept only by the activation that made the first
    /// write; a new activation (its silo died) heard nothing of it from the store, revoked every registered edge (an
    /// earlier activation's leases may be out), and acknowledged a minor flag while that edge, which the revocation had
    /// reached, still decided the subject from its absence lease. A revocation now also ends the edge's absent view.
    /// </summary>
    [Fact]
    public void A_first_write_that_skips_an_unresponsive_edge_and_then_loses_its_silo_still_delays_a_later_minor_until_that_edge_no_longer_decides_the_subject_as_absent()
    {
        var cluster = new SimCluster(3, SimFaults.None);
        var (edge, other) = (cluster.Edges[0], cluster.Edges[1]);
        SubjectRecord? afterMinor = SubjectRecord.Empty;
        Script(cluster, async () =>
        {
            await EdgeDecidesAsAbsentAsync(cluster, edge, other, "u1");

            // The store's silo cannot tell the edge of u1's first write: the activation that made it learns until when
            // the edge may still decide u1 as absent ...
            cluster.Network.Cut(edge.Process, cluster.Control.Process);
            Assert.NotNull(await cluster.WriteAsync("u1", SimOp.Grant));
            // ... and dies with its silo.
            cluster.KillSilo(cluster.Route("u1").Silo);
            Assert.Equal(SubjectStatus.Minor, (await cluster.WriteAsync("u1", SimOp.Minor))!.Status);
            afterMinor = await cluster.CheckAsync(edge, "u1");
        });

        Assert.Equal(SubjectStatus.Minor, afterMinor?.Status);
        Assert.Empty(cluster.History.Check());
    }

    [Fact]
    public void A_withdrawal_retried_after_its_silo_died_between_commit_and_revocation_waits_until_a_slow_edge_has_let_the_grant_go()
    {
        var cluster = new SimCluster(2, SimFaults.None);
        var edge = cluster.Edges[0];
        SubjectRecord? failed = SubjectRecord.Empty;
        SubjectRecord? afterRetry = SubjectRecord.Empty;
        Script(cluster, async () =>
        {
            await cluster.Wait(TimeSpan.FromSeconds(6));
            Assert.NotNull(await cluster.WriteAsync("u1", SimOp.Grant));
            Assert.True(Granted(await cluster.CheckAsync(edge, "u1"))); // the edge holds a lease on the grant

            edge.Process.Pause(); // slow: it will not confirm the revocation
            var silo = cluster.Route("u1").Silo;
            cluster.Storage.AfterCommit = _ =>
            {
                cluster.Storage.AfterCommit = null;
                cluster.KillSilo(silo); // the withdrawal is stored; its revocation never starts
            };
            var first = cluster.WriteAsync("u1", SimOp.Withdraw);
            await cluster.Wait(TimeSpan.FromMilliseconds(100));
            Assert.Null(cluster.Storage.AfterCommit); // stored, and the silo is gone

            // The shopper tries again at once: a new activation finds the withdrawal stored. It changes nothing,
            // yet it may not be acknowledged while the slow edge can still answer from the grant.
            afterRetry = await cluster.WriteAsync("u1", SimOp.Withdraw);
            edge.Process.Resume();
            Assert.False(Granted(await cluster.CheckAsync(edge, "u1")));
            failed = await first;
        });

        Assert.Null(failed);
        Assert.NotNull(afterRetry);
        Assert.Empty(cluster.History.Check());
    }

    [Fact]
    public void An_edge_dropped_from_the_stored_registry_while_stale_is_stored_again_when_it_renews_so_a_restarted_registry_still_names_it()
    {
        var cluster = new SimCluster(3, SimFaults.None);
        var edge = cluster.Edges[0];
        SubjectRecord? afterWithdrawal = SubjectRecord.Empty;
        Script(cluster, async () =>
        {
            await cluster.Wait(TimeSpan.FromSeconds(6));
            // The edge cannot renew for longer than the registration expiry; meanwhile another edge registers,
            // and the registry stores the edges live then: without this one.
            cluster.Network.Cut(edge.Process, cluster.Control.Process);
            await cluster.Wait(ILeaseHolderRegistryGrain.Expiry + TimeSpan.FromSeconds(1));
            cluster.Edges.Add(new SimEdge(cluster, "edge4"));
            await cluster.Wait(TimeSpan.FromSeconds(1));
            Assert.DoesNotContain(edge.Reference, cluster.Control.Stored.Holders);
            cluster.Network.Heal();
            await cluster.Wait(TimeSpan.FromSeconds(3)); // it renews, and is confirmed
            Assert.True(edge.Epoch.Active);

            Assert.NotNull(await cluster.WriteAsync("u1", SimOp.Grant));
            Assert.True(Granted(await cluster.CheckAsync(edge, "u1")));

            // The registry and u1's silo both restart: the new activation learns from the registry which edges
            // may hold an earlier activation's lease.
            // The edge cannot renew with the new registry for a while (so only the stored set can name it).
            cluster.KillControl();
            cluster.Network.Cut(edge.Process, cluster.Control.Process);
            cluster.KillSilo(cluster.Route("u1").Silo);
            Assert.NotNull(await cluster.WriteAsync("u1", SimOp.Withdraw));
            afterWithdrawal = await cluster.CheckAsync(edge, "u1");
        });

        Assert.False(Granted(afterWithdrawal));
        Assert.Empty(cluster.History.Check());
    }

    [Fact]
    public void The_registry_stores_an_edge_again_when_it_renews_after_a_save_left_it_out()
    {
        var clock = new ManualClock();
        IDecisionLeaseHolder a = new NoOpLeaseHolder("a"), b = new NoOpLeaseHolder("b"), c = new NoOpLeaseHolder("c");
        var registry = new HolderRegistry(clock, [], []);
        Assert.True(registry.Register(a));
        registry.Stored(registry.Snapshot().Holders);
        Assert.True(registry.Register(b));
        registry.Stored(registry.Snapshot().Holders);

        clock.Advance(ILeaseHolderRegistryGrain.Expiry - TimeSpan.FromSeconds(1));
        Assert.False(registry.Register(b)); // a renewal of a stored edge writes nothing
        clock.Advance(TimeSpan.FromSeconds(2)); // a is stale now
        Assert.True(registry.Register(c));
        var saved = registry.Snapshot().Holders;
        Assert.Equal([b, c], saved.OrderBy(h => h.ToString()));
        registry.Stored(saved);

        // a renews: it is not stored, so its confirmation waits for a save
        Assert.True(registry.Register(a));
        Assert.Contains(a, registry.Snapshot().Holders);
    }

    [Fact]
    public void Waiting_out_a_lease_never_ends_before_its_expiry_even_by_less_than_a_millisecond()
    {
        // Task.Delay keeps whole milliseconds: a wait of 9.76 ms computed as a TimeSpan ended at 9 ms, while the edge
        // could still use its lease (a schedule of the simulation found it: a cancellation acknowledged 0.76 ms early).
        var world = new SimWorld(1);
        var process = new SimProcess(world, "grain");
        var until = world.Clock.GetTimestamp() + TimeSpan.FromMilliseconds(9.76).Ticks;
        var doneAt = -1L;
        process.Run(async () =>
        {
            await world.Clock.DelayUntilAsync(until);
            doneAt = world.Clock.GetTimestamp();
        });
        world.RunUntil(TimeSpan.FromSeconds(1).Ticks);

        Assert.True(doneAt >= until, $"done at {doneAt}, the lease ran until {until}");
    }

    private static bool Granted(SubjectRecord? record) =>
        record?.Consents.GetValueOrDefault(Purpose.Analytics)?.Granted == true;

    /// <summary>Runs <paramref name="script"/> on the client process of the simulation until it completes.</summary>
    /// <summary>
    /// <paramref name="activated"/> are activated through <paramref name="other"/> long before anything else happens;
    /// then <paramref name="edge"/> holds the store's absence lease and decides the first of them as one without a record.
    /// </summary>
    private static async Task EdgeDecidesAsAbsentAsync(SimCluster cluster, SimEdge edge, SimEdge other, params string[] activated)
    {
        foreach (var subject in activated)
        {
            await cluster.CheckAsync(other, subject);
        }

        await cluster.Wait(TimeSpan.FromSeconds(6)); // every edge registered, the store's index loaded
        await cluster.CheckAsync(edge, "u3"); // asks the store for an absence lease
        await cluster.Wait(TimeSpan.FromMilliseconds(100));
        Assert.Null(await cluster.CheckAsync(edge, activated[0])); // decided from the absence lease: no record
    }

    private static void Script(SimCluster cluster, Func<Task> script, [System.Runtime.CompilerServices.CallerMemberName] string caller = "")
    {
        Task? running = null;
        var trace = Environment.GetEnvironmentVariable("SHOPASTRO_SIM_TRACE");
        cluster.World.Trace = trace is null ? null : [];
        cluster.Client.Run(() => running = script());
        var limit = cluster.World.Clock.Ticks + TimeSpan.FromMinutes(5).Ticks;
        while (running is not { IsCompleted: true } && cluster.World.Clock.Ticks < limit)
        {
            cluster.World.RunUntil(cluster.World.Clock.Ticks + Millisecond.Ticks * 100);
        }

        if (trace is not null)
        {
            File.WriteAllLines(Path.Combine(trace, $"{caller}.log"), [.. cluster.World.Trace!, .. cluster.History.Check()]);
        }

        Assert.Null(cluster.World.Fault);
        Assert.True(running?.IsCompleted, "the script did not finish");
        running!.GetAwaiter().GetResult();
    }

    private sealed class ManualClock : TimeProvider
    {
        private long _ticks = 1;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
