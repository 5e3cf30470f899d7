using System.Collections.Concurrent;
using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Coherence;

/// <summary>
/// Leases that run until revoked (docs/coherence.md, L1-L4), rule by rule: the registry's expulsions
/// (<see cref="HolderRegistry"/>), the grant side's use of them (<see cref="LeaseGrants"/>), and the holder side's
/// bounds (<see cref="HeldLeases"/>). The simulation explores them together (<c>CoherenceSimulationTests</c>).
/// </summary>
public sealed class ExpulsionTests
{
    private static readonly IDecisionLeaseHolder Edge1 = new NoOpLeaseHolder("edge1");
    private static readonly IDecisionLeaseHolder Edge2 = new NoOpLeaseHolder("edge2");

    [Fact]
    public void An_expelled_edge_is_refused_from_then_on_and_may_use_its_leases_only_until_its_last_renewal_expires()
    {
        var time = new SteppingTime();
        var registry = new HolderRegistry(time, [], []);
        Assert.True(registry.Register(Edge1));
        registry.Stored(registry.Snapshot().Holders);
        time.Now = Seconds(4);
        Assert.False(registry.Register(Edge1));

        time.Now = Seconds(6);
        Assert.Equal(TimeSpan.FromSeconds(8), registry.Expel(Edge1, out var store));
        Assert.True(store);
        Assert.True(registry.IsExpelled(Edge1));
        Assert.Throws<InvalidOperationException>(() => registry.Register(Edge1));

        // Named as a holder until then (a fresh subject activation must still count it), and stored as expelled.
        Assert.Contains(Edge1, registry.Live());
        var (holders, expelled) = registry.Snapshot();
        Assert.Contains(Edge1, holders);
        Assert.Equal(Edge1, Assert.Single(expelled).Holder);

        // Expelled again: nothing more to store, the same end.
        time.Now = Seconds(10);
        Assert.Equal(TimeSpan.FromSeconds(4), registry.Expel(Edge1, out store));
        Assert.False(store);
        time.Now = Seconds(14);
        Assert.DoesNotContain(Edge1, registry.Live());
    }

    [Fact]
    public void A_new_registry_activation_keeps_the_stored_expulsions_and_counts_every_stored_edge_as_just_renewed()
    {
        var time = new SteppingTime();
        var before = new HolderRegistry(time, [], []);
        before.Register(Edge1);
        before.Register(Edge2);
        before.Expel(Edge1, out _);
        var (holders, expelled) = before.Snapshot();

        time.Now = Seconds(9);
        var after = new HolderRegistry(time, holders, expelled);
        Assert.True(after.IsExpelled(Edge1));
        Assert.False(after.IsExpelled(Edge2));
        // Its renewals were not seen by this activation: a full registration from now.
        Assert.Equal(TimeSpan.FromSeconds(10), after.Expel(Edge2, out var store));
        Assert.True(store);
    }

    [Fact]
    public void An_edge_whose_registration_ran_out_is_not_expelled_it_has_stopped_using_its_leases()
    {
        var time = new SteppingTime();
        var registry = new HolderRegistry(time, [], []);
        registry.Register(Edge1);
        time.Now = Seconds(10);
        Assert.Equal(TimeSpan.Zero, registry.Expel(Edge1, out var store));
        Assert.False(store);
        Assert.False(registry.IsExpelled(Edge1));
        Assert.Equal(TimeSpan.Zero, registry.Expel(Edge2, out store));
        Assert.False(store);
    }

    [Fact]
    public void An_expulsion_that_could_not_be_stored_is_forgotten_so_that_the_next_one_is_stored()
    {
        var time = new SteppingTime();
        var registry = new HolderRegistry(time, [], []);
        registry.Register(Edge1);
        registry.Expel(Edge1, out var store);
        Assert.True(store);
        registry.ExpulsionNotStored(Edge1);
        Assert.False(registry.IsExpelled(Edge1));
        registry.Expel(Edge1, out store);
        Assert.True(store);
    }

    [Fact]
    public async Task A_holder_that_does_not_confirm_a_revocation_of_a_lease_until_revoked_is_expelled_and_counted_until_its_registration_ends()
    {
        var time = new SteppingTime();
        var expelled = new ConcurrentQueue<IDecisionLeaseHolder>();
        var grants = GrantsRecordingExpulsions(time, expelled, TimeSpan.FromSeconds(7));
        grants.Activated(TimeSpan.Zero);
        grants.Grant(Edge1, long.MaxValue);
        grants.Grant(Edge2, long.MaxValue);

        var until = await grants.CallAsync(holder => holder == Edge1 ? Task.FromException(new TimeoutException()) : Task.CompletedTask, keepLeases: false);

        Assert.Equal(Seconds(7), until);
        Assert.Equal([Edge1], expelled);
        // Counted until then: a later change that cannot reach it waits for the same instant, without asking the
        // registry again; after it, the holder is gone.
        time.Now = Seconds(4);
        Assert.Equal(Seconds(7), await grants.CallAsync(_ => Task.FromException(new TimeoutException()), keepLeases: false));
        Assert.Equal([Edge1], expelled);
        time.Now = Seconds(7);
        var calls = 0;
        Assert.Equal(0, await grants.CallAsync(_ =>
        {
            calls++;
            return Task.CompletedTask;
        }, keepLeases: false));
        Assert.Equal(0, calls);
    }

    [Fact]
    public async Task A_change_that_could_not_expel_an_unconfirming_holder_fails_and_the_next_one_calls_it_again()
    {
        var time = new SteppingTime();
        var grants = TestLeaseGrants.Of(time, [], _ => Task.FromException<TimeSpan>(new TimeoutException("registry")));
        grants.Activated(TimeSpan.Zero);
        grants.Grant(Edge1, long.MaxValue);

        await Assert.ThrowsAsync<TimeoutException>(() => grants.CallAsync(_ => Task.FromException(new TimeoutException()), keepLeases: false));

        time.Now = Seconds(4);
        var called = new List<IDecisionLeaseHolder>();
        Assert.Equal(0, await grants.CallAsync(holder =>
        {
            called.Add(holder);
            return Task.CompletedTask;
        }, keepLeases: false));
        Assert.Equal([Edge1], called);
    }

    [Fact]
    public async Task A_fresh_activation_counts_every_registered_edge_until_one_change_has_reached_them_all()
    {
        var time = new SteppingTime();
        var grants = TestLeaseGrants.Of(time, [Edge1, Edge2], _ => Task.FromResult(TimeSpan.FromSeconds(3)));
        grants.Activated(lease: null);
        time.Now = Seconds(3600);
        Assert.True(grants.PreviousActivationMayHold);

        // Edge2 does not confirm: expelled and waited for, which counts as reached.
        var until = await grants.CallAsync(holder => holder == Edge2 ? Task.FromException(new TimeoutException()) : Task.CompletedTask, keepLeases: false);
        Assert.Equal(Seconds(3603), until);
        Assert.False(grants.PreviousActivationMayHold);
    }

    [Fact]
    public async Task Without_the_registry_a_fresh_activation_has_no_bound_on_earlier_leases_and_its_change_fails()
    {
        var time = new SteppingTime();
        var settings = new LeaseGrantSettings(time, TimeSpan.FromSeconds(1),
            new RegisteredHolders(time, () => Task.FromException<IDecisionLeaseHolder[]>(new TimeoutException("registry"))),
            new UnresponsiveHolders(time), new HolderExpulsions(time, _ => Task.FromResult(TimeSpan.Zero)));
        var grants = new LeaseGrants(settings, IgnoredLeaseFailures.Instance);
        grants.Activated(lease: null);
        await Assert.ThrowsAsync<TimeoutException>(() => grants.CallAsync(_ => Task.CompletedTask, keepLeases: false));
        Assert.True(grants.PreviousActivationMayHold);

        // A store's leases are bounded: it relies on their expiry instead.
        var store = new LeaseGrants(settings, IgnoredLeaseFailures.Instance);
        store.Activated(TimeSpan.FromSeconds(5));
        Assert.Equal(Seconds(5), await store.CallAsync(_ => Task.CompletedTask, keepLeases: false));
    }

    [Fact]
    public async Task An_edge_holds_leases_until_revoked_drops_others_past_its_capacity_but_never_a_revocation()
    {
        var time = new SteppingTime();
        var epoch = Confirmed(time, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2));
        var leases = new HeldLeases(time, epoch, _ => Task.FromResult(new DecisionLease(SubjectRecord.Empty, DecisionLease.UntilRevoked)), capacity: 1);

        await leases.LeaseAsync("s/u1");
        leases.Revoke("s/u2");
        await leases.LeaseAsync("s/u3");
        Assert.True(leases.TryGet("s/u3", out var forever));
        Assert.Equal(long.MaxValue, forever.ExpiresAt);
        Assert.Equal(1, leases.Dropped);
        Assert.False(leases.TryGet("s/u1", out _));
        // The revocation is kept apart: it refuses a lease requested before it for longer than any answer is kept.
        leases.Sweep();
        Assert.Equal((1, 1), (leases.Count, leases.Revocations));
        time.Now = Seconds(61);
        leases.Sweep();
        Assert.Equal((1, 0), (leases.Count, leases.Revocations));
    }

    [Fact]
    public async Task Past_its_capacity_an_edge_drops_the_leases_not_used_lately_and_keeps_the_subjects_asked_often()
    {
        var time = new SteppingTime();
        var epoch = Confirmed(time, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2));
        var leases = new HeldLeases(time, epoch, _ => Task.FromResult(new DecisionLease(SubjectRecord.Empty, DecisionLease.UntilRevoked)), capacity: 20);
        var hot = Enumerable.Range(0, 10).Select(i => $"s/hot{i}").ToArray();
        foreach (var key in hot)
        {
            await leases.LeaseAsync(key);
        }

        // Every hot subject is asked for between two cold ones, each asked once.
        var lost = new HashSet<string>();
        for (var cold = 0; cold < 1_000; cold++)
        {
            foreach (var key in hot)
            {
                if (!leases.TryGet(key, out _))
                {
                    lost.Add(key);
                    await leases.LeaseAsync(key);
                }
            }

            await leases.LeaseAsync($"s/cold{cold}");
        }

        Assert.Empty(lost);
        Assert.Equal(20, leases.Count);
        Assert.Equal(1_000 + hot.Length - 20, leases.Dropped);
    }

    [Fact]
    public async Task A_revocation_outlives_the_newer_lease_that_followed_it_so_a_late_answer_from_before_it_is_refused_after_that_lease_is_dropped()
    {
        // Found by the simulation: a lease asked for before a revocation, answered late (a batch held by a paused
        // gateway), arrived after a newer lease had replaced the revocation and been dropped for capacity.
        var time = new SteppingTime();
        var epoch = Confirmed(time, TimeSpan.FromHours(1), TimeSpan.Zero);
        var late = new TaskCompletionSource<DecisionLease>();
        var answers = new Queue<Task<DecisionLease>>([late.Task]);
        var leases = new HeldLeases(time, epoch,
            _ => answers.TryDequeue(out var answer) ? answer : Task.FromResult(new DecisionLease(Record(SubjectStatus.Cancelled), DecisionLease.UntilRevoked)),
            capacity: 1);

        var before = leases.LeaseAsync("s/u1");
        time.Now = Seconds(1);
        leases.Revoke("s/u1");
        time.Now = Seconds(2);
        await leases.LeaseAsync("s/u1");
        await leases.LeaseAsync("s/u2"); // drops u1's lease
        Assert.False(leases.TryGet("s/u1", out _));

        late.SetResult(new DecisionLease(Record(SubjectStatus.Active), DecisionLease.UntilRevoked));
        await before;
        Assert.False(leases.TryGet("s/u1", out _));
    }

    [Fact]
    public async Task A_lease_whose_answer_took_longer_than_a_revocation_is_kept_is_not_kept()
    {
        var time = new SteppingTime();
        var epoch = Confirmed(time, TimeSpan.FromHours(2), TimeSpan.Zero);
        var answer = new TaskCompletionSource<DecisionLease>();
        var leases = new HeldLeases(time, epoch, _ => answer.Task);

        var slow = leases.LeaseAsync("s/u1");
        time.Now = Seconds(60);
        answer.SetResult(new DecisionLease(SubjectRecord.Empty, DecisionLease.UntilRevoked));
        await slow;
        Assert.False(leases.TryGet("s/u1", out _));
    }

    [Fact]
    public async Task A_check_does_not_use_a_lease_requested_in_an_epoch_that_ended()
    {
        var time = new SteppingTime();
        var epoch = Confirmed(time, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2));
        var answer = new TaskCompletionSource<DecisionLease>();
        var leases = new HeldLeases(time, epoch, _ => answer.Task);

        var check = leases.LeaseForCheckAsync("s/u1", startedAt: 0);
        epoch.End();
        answer.SetResult(new DecisionLease(SubjectRecord.Empty, DecisionLease.UntilRevoked));
        Assert.Null(await check);
    }

    [Fact]
    public async Task A_row_is_deleted_only_once_every_lease_was_revoked_or_its_edge_waited_out_and_no_lease_is_granted_meanwhile()
    {
        var time = new SteppingTime();
        var grants = TestLeaseGrants.Of(time, [], _ => Task.FromResult(TimeSpan.Zero));
        var leases = new SubjectLeases(time, grants);
        leases.Activated();
        leases.EarlierActivationsLeasedNoRecord();
        leases.Grant(Edge1, SubjectRecord.Empty);
        var events = new List<string>();
        var revocation = new TaskCompletionSource();

        var deletion = leases.DeleteAsync(() =>
        {
            events.Add("deleted");
            return Task.CompletedTask;
        }, holder =>
        {
            events.Add($"revoke {holder}");
            return revocation.Task;
        });
        var request = leases.ReadWhenStoredAsync(_ =>
        {
            events.Add("granted");
            return new DecisionLease(SubjectRecord.Empty, DecisionLease.UntilRevoked);
        }, 0, policy: null);

        Assert.False(request.IsCompleted);
        revocation.SetResult();
        await deletion;
        await request;
        Assert.Equal(["revoke edge1", "deleted", "granted"], events);
    }

    [Fact]
    public async Task A_deletion_is_sent_only_while_the_silos_membership_is_confirmed_and_never_once_it_was_declared_dead()
    {
        var time = new SteppingTime { Now = Seconds(1) };
        var fence = new MembershipFence(time, TimeSpan.FromMilliseconds(500));
        var leases = new SubjectLeases(time, TestLeaseGrants.Of(time, [], _ => Task.FromResult(TimeSpan.Zero)), fence);
        leases.Activated();
        leases.EarlierActivationsLeasedNoRecord();
        leases.Grant(Edge1, SubjectRecord.Empty);
        var deleted = 0;
        Task Delete()
        {
            deleted++;
            return Task.CompletedTask;
        }

        // Revoked, but no read has named this silo alive lately (it may have been paused): the row stays meanwhile.
        var deletion = leases.DeleteAsync(Delete, _ => Task.CompletedTask);
        await Task.Delay(50);
        Assert.False(deletion.IsCompleted);
        Assert.Equal(0, deleted);
        fence.Confirmed(time.GetTimestamp());
        await deletion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, deleted);

        // A read found this silo declared dead: another activation may lease the record now, and the row stays.
        fence.Disown();
        await Assert.ThrowsAsync<Orleans.Runtime.SiloUnavailableException>(() => leases.DeleteAsync(Delete, _ => Task.CompletedTask));
        Assert.Equal(1, deleted);
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(3, false)]
    public async Task A_holder_is_expelled_only_after_a_timeout_of_this_process_running_time_not_after_a_stall_of_its_own(int firedAtSecond, bool expelled)
    {
        var time = new ManualTime();
        var expulsions = new ConcurrentQueue<IDecisionLeaseHolder>();
        var grants = GrantsRecordingExpulsions(time, expulsions, TimeSpan.FromSeconds(9));
        grants.Activated(TimeSpan.Zero);
        grants.Grant(Edge1, long.MaxValue);
        var answer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var call = grants.CallAsync(_ => answer.Task, keepLeases: false);

        // The 1 s revoke timeout fires at 1 s (the edge is silent), or at 3 s (this process did not run meanwhile, and
        // the edge's answer, sent at once, is queued behind the timer).
        time.MoveTo(TimeSpan.FromSeconds(firedAtSecond));
        await Task.Delay(50);
        answer.SetResult();
        var until = await call.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(expelled ? [Edge1] : [], expulsions);
        Assert.Equal(expelled ? Seconds(firedAtSecond + 9) : 0, until);
    }

    private static long Seconds(int seconds) => TimeSpan.FromSeconds(seconds).Ticks;

    /// <summary>An epoch whose first registration, sent at 0, was confirmed.</summary>
    private static HolderEpoch Confirmed(TimeProvider time, TimeSpan expiry, TimeSpan margin)
    {
        var epoch = new HolderEpoch(time);
        epoch.Confirmed(0, expiry, margin);
        return epoch;
    }

    /// <summary>A grant side whose registry records each holder it is asked to expel and answers <paramref name="usableFor"/>.</summary>
    private static LeaseGrants GrantsRecordingExpulsions(TimeProvider time, ConcurrentQueue<IDecisionLeaseHolder> expelled, TimeSpan usableFor) =>
        TestLeaseGrants.Of(time, [], holder =>
        {
            expelled.Enqueue(holder);
            return Task.FromResult(usableFor);
        });

    private static SubjectRecord Record(SubjectStatus status) => SubjectRecord.Empty with { Status = status };
}
