using System.Collections.Concurrent;
using System.Net;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Coherence;

/// <summary>
/// An edge's lease requests travel in batches (<see cref="LeaseRequestBatches"/>, <see cref="IDecisionLeaseBatchGrain"/>):
/// every request is answered with its own subject's answer, none waits while the edge is idle, and none is lost.
/// </summary>
public sealed class LeaseRequestBatchesTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly SubjectRecord Record = SubjectRecord.Empty;

    [Fact]
    public async Task A_request_goes_at_once_while_a_batch_place_is_free_and_requests_made_meanwhile_go_together()
    {
        var sent = new ConcurrentQueue<(LeaseAsk[] Asks, TaskCompletionSource<LeaseAnswer[]> Answers)>();
        var batches = Batches(asks =>
        {
            var answers = new TaskCompletionSource<LeaseAnswer[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            sent.Enqueue((asks, answers));
            return answers.Task;
        }, maxInFlight: 2);

        var first = batches.RequestAsync("s/u1");
        var second = batches.RequestAsync("s/u2");
        Assert.Equal(["s/u1", "s/u2"], sent.Select(batch => Assert.Single(batch.Asks).Key));

        // Both places taken: these wait, and go in one batch once a place is free.
        var waiting = Enumerable.Range(3, 5).Select(i => batches.RequestAsync($"s/u{i}")).ToArray();
        Assert.Equal(2, sent.Count);
        Assert.True(sent.TryDequeue(out var one));
        one.Answers.SetResult([LeaseAnswer.Granted(Lease(1))]);
        Assert.Equal(1, (await first.WaitAsync(Timeout)).Duration.TotalSeconds);

        await WaitUntil(() => sent.Count == 2);
        var together = sent.ToArray()[1];
        Assert.Equal(["s/u3", "s/u4", "s/u5", "s/u6", "s/u7"], together.Asks.Select(ask => ask.Key));
        together.Answers.SetResult([.. Enumerable.Range(3, 5).Select(i => LeaseAnswer.Granted(Lease(i)))]);
        Assert.Equal([3, 4, 5, 6, 7], (await Task.WhenAll(waiting).WaitAsync(Timeout)).Select(lease => (int)lease.Duration.TotalSeconds));
        Assert.False(second.IsCompleted);
        Assert.Equal((3, 7), (batches.Batches, batches.Requests));
    }

    [Fact]
    public async Task No_batch_holds_more_than_its_limit()
    {
        var sizes = new ConcurrentQueue<int>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var batches = Batches(async asks =>
        {
            sizes.Enqueue(asks.Length);
            await gate.Task;
            return [.. asks.Select(_ => LeaseAnswer.Granted(Lease(1)))];
        }, maxInFlight: 1, maxBatch: 2);

        var requests = Enumerable.Range(0, 6).Select(i => batches.RequestAsync($"s/u{i}")).ToArray();
        gate.SetResult();
        await Task.WhenAll(requests).WaitAsync(Timeout);
        Assert.Equal([1, 2, 2, 1], sizes);
    }

    [Fact]
    public async Task A_subjects_failure_fails_its_own_request_only()
    {
        var (batches, release) = HeldFirst(_ => Task.FromResult<LeaseAnswer[]>(
            [LeaseAnswer.Failed(new StorageUnavailableException("u1")), LeaseAnswer.Granted(Lease(2))]));
        var u1 = batches.RequestAsync("s/u1");
        var u2 = batches.RequestAsync("s/u2");
        release();

        await Assert.ThrowsAsync<StorageUnavailableException>(() => u1.WaitAsync(Timeout));
        Assert.Equal(2, (await u2.WaitAsync(Timeout)).Duration.TotalSeconds);
    }

    [Fact]
    public async Task A_batch_that_fails_as_a_whole_fails_every_request_in_it_and_later_requests_still_go()
    {
        var calls = 0;
        var (batches, release) = HeldFirst(asks => Interlocked.Increment(ref calls) switch
        {
            1 => Task.FromException<LeaseAnswer[]>(new TimeoutException("batch")),
            2 => throw new InvalidOperationException("not connected"),
            3 => Task.FromResult<LeaseAnswer[]>([]),
            _ => Task.FromResult<LeaseAnswer[]>([.. asks.Select(_ => LeaseAnswer.Granted(Lease(4)))]),
        });
        var u1 = batches.RequestAsync("s/u1");
        var u2 = batches.RequestAsync("s/u2");
        release();

        await Assert.ThrowsAsync<TimeoutException>(() => u1.WaitAsync(Timeout));
        await Assert.ThrowsAsync<TimeoutException>(() => u2.WaitAsync(Timeout));
        // Thrown by the send itself; answered with the wrong number of answers: the sender's place is given back each time.
        await Assert.ThrowsAsync<InvalidOperationException>(() => batches.RequestAsync("s/u3").WaitAsync(Timeout));
        await Assert.ThrowsAsync<InvalidOperationException>(() => batches.RequestAsync("s/u4").WaitAsync(Timeout));
        Assert.Equal(4, (await batches.RequestAsync("s/u5").WaitAsync(Timeout)).Duration.TotalSeconds);
    }

    [Fact]
    public async Task A_slow_batch_holds_up_only_its_own_requests()
    {
        var slow = new TaskCompletionSource<LeaseAnswer[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        var batches = new LeaseRequestBatches(
            asks => asks is [{ Key: "s/slow" }] ? slow.Task : Task.FromResult<LeaseAnswer[]>([.. asks.Select(_ => LeaseAnswer.Granted(Lease(2)))]),
            maxInFlight: 1, TimeProvider.System, slowAfter: TimeSpan.FromMilliseconds(50));

        var held = batches.RequestAsync("s/slow");
        var after = Enumerable.Range(0, 3).Select(i => batches.RequestAsync($"s/u{i}")).ToArray();

        // The only place is the slow batch's until it has taken 50 ms; then the requests after it go without it.
        Assert.All(await Task.WhenAll(after).WaitAsync(Timeout), lease => Assert.Equal(2, lease.Duration.TotalSeconds));
        Assert.False(held.IsCompleted);
        slow.SetResult([LeaseAnswer.Granted(Lease(7))]);
        Assert.Equal(7, (await held.WaitAsync(Timeout)).Duration.TotalSeconds);
        // Both places given back: the next request goes at once.
        Assert.Equal(2, (await batches.RequestAsync("s/next").WaitAsync(Timeout)).Duration.TotalSeconds);
    }

    [Fact]
    public async Task A_lease_whose_request_waited_in_a_batch_while_its_subject_was_revoked_is_not_kept_but_answers_the_checks_that_waited()
    {
        var time = TimeProvider.System;
        var (batches, release) = HeldFirst(asks => Task.FromResult<LeaseAnswer[]>([.. asks.Select(_ => LeaseAnswer.Granted(Lease(5)))]));
        var leases = new HeldLeases(time, Registered(time), batches.RequestAsync);

        var queued = leases.LeaseAsync("s/u1");
        leases.Revoke("s/u1");
        release();

        // The check that asked started before the revocation arrived: it decides from the lease; nothing later does.
        Assert.NotNull((await queued.WaitAsync(Timeout)).Subject);
        Assert.False(leases.TryGet("s/u1", out _));
        // Asked again after the revocation: kept.
        await leases.LeaseAsync("s/u1").WaitAsync(Timeout);
        Assert.True(leases.TryGet("s/u1", out _));
    }

    [Fact]
    public async Task Requests_made_from_many_threads_are_all_answered_with_their_own_lease_and_never_more_batches_than_allowed_are_on_their_way()
    {
        const int maxInFlight = 2;
        var onTheirWay = 0;
        var most = 0;
        var batches = Batches(async asks =>
        {
            var now = Interlocked.Increment(ref onTheirWay);
            InterlockedMax(ref most, now);
            await Task.Yield();
            Interlocked.Decrement(ref onTheirWay);
            // Each answer names its request: the key's number as the lease's seconds.
            return [.. asks.Select(ask => LeaseAnswer.Granted(Lease(int.Parse(ask.Key[3..]))))];
        }, maxInFlight);

        var requests = await Task.WhenAll(Enumerable.Range(0, 8).Select(thread => Task.Run(async () =>
        {
            var mine = new List<(int Number, Task<DecisionLease> Lease)>();
            for (var i = 0; i < 2_000; i++)
            {
                var number = thread * 10_000 + i;
                mine.Add((number, batches.RequestAsync($"s/u{number}")));
                if (i % 50 == 0)
                {
                    await Task.Yield();
                }
            }

            return mine;
        })));

        foreach (var (number, lease) in requests.SelectMany(mine => mine))
        {
            Assert.Equal(number, (int)(await lease.WaitAsync(Timeout)).Duration.TotalSeconds);
        }

        Assert.Equal(16_000, batches.Requests);
        Assert.InRange(most, 1, maxInFlight);
        Assert.True(batches.Batches < batches.Requests, $"{batches.Batches} batches for {batches.Requests} requests");
    }

    [Fact]
    public async Task The_batch_grain_answers_each_ask_with_its_subjects_own_lease_and_failure()
    {
        var (client, storeId) = await StoreWhereU1GrantedAsync("batch-");
        var grains = fixture.Factory.Services.GetRequiredService<IGrainFactory>();
        var holder = grains.CreateObjectReference<IDecisionLeaseHolder>(new NoOpLeaseHolder());
        var direct = await grains.GetGrain<ISubjectGrain>(SubjectKey.Of(storeId, "u1")).LeaseDecisions(holder);

        var answers = await grains.GetGrain<IDecisionLeaseBatchGrain>(0).LeaseDecisions(holder,
        [
            new LeaseAsk(SubjectKey.Of(storeId, "u1")),
            new LeaseAsk("not-a-subject-key"),
            new LeaseAsk(SubjectKey.Of(storeId, "u1")),
            new LeaseAsk(SubjectKey.Of(storeId, "never-written")),
        ]);

        Assert.Equal(4, answers.Length);
        Assert.Equal(direct.Subject, answers[0].Lease!.Subject);
        Assert.True(answers[0].Lease!.Subject.Consents[Purpose.Analytics].Granted);
        Assert.Null(answers[1].Lease);
        Assert.NotNull(answers[1].Failure);
        Assert.Equal(direct.Subject, answers[2].Lease!.Subject);
        Assert.Empty(answers[3].Lease!.Subject.Consents);
    }

    [Fact]
    public void An_answer_crosses_the_wire_with_its_lease_or_its_failures_type()
    {
        var serializer = fixture.Factory.Services.GetRequiredService<Serializer>();
        var failed = serializer.Deserialize<LeaseAnswer?>(serializer.SerializeToArray(LeaseAnswer.Failed(new StorageUnavailableException("down"))));
        Assert.IsType<StorageUnavailableException>(failed!.Failure);
        Assert.Equal("down", failed.Failure!.Message);
        Assert.Null(failed.Lease);

        var granted = serializer.Deserialize<LeaseAnswer?>(serializer.SerializeToArray(LeaseAnswer.Granted(Lease(5))));
        Assert.Equal(TimeSpan.FromSeconds(5), granted!.Lease!.Duration);
        Assert.Null(granted.Failure);
    }

    [Fact]
    public async Task An_edge_set_to_batch_takes_its_leases_in_batches_and_they_are_revoked_before_a_withdrawal_is_acknowledged()
    {
        // Off by default (it did not pay on this machine: load-tests/results); on where DecisionCache:LeaseBatchesInFlight says so.
        Assert.Null(LeaseBatchesSent(fixture.Factory.Services));
        await using var database = TestDatabase.Sqlite();
        await using var batching = new EdgeApiFactory(database.ConnectionString, new Dictionary<string, string?> { ["DecisionCache:LeaseBatchesInFlight"] = "2" });
        var client = batching.ClientWith(EdgeApiFactory.AdminToken);
        var storeId = "batched-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(HttpStatusCode.OK, (await client.PublishPolicyAsync(storeId, 1)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.SetConsentAsync(storeId, "u1", "analytics", true)).StatusCode);
        var cache = batching.Services.GetRequiredService<ShopAstro.EdgeApi.Decisions.DecisionCache>();
        var registered = DateTime.UtcNow + Timeout;
        while (!cache.Active)
        {
            // The cache takes leases only once this edge is registered as a lease holder (at start-up).
            Assert.True(DateTime.UtcNow < registered, "the decision cache did not register");
            await Task.Delay(50);
        }

        var before = LeaseBatchesSent(batching.Services);
        Assert.Equal((true, "granted"), await client.DecideAsync(storeId, "u1", "analytics"));
        Assert.True(LeaseBatchesSent(batching.Services) > before, "the check took its lease without a batch");
        Assert.Equal((true, "granted"), await client.DecideAsync(storeId, "u1", "analytics"));

        // The subject grain registered this edge as the holder of the lease it granted through the batch, and revoked it.
        Assert.Equal(HttpStatusCode.OK, (await client.SetConsentAsync(storeId, "u1", "analytics", false)).StatusCode);
        Assert.Equal((false, "withdrawn"), await client.DecideAsync(storeId, "u1", "analytics"));
    }

    /// <summary>A new store with policy version 1, where the subject u1 granted analytics.</summary>
    private async Task<(HttpClient Client, string StoreId)> StoreWhereU1GrantedAsync(string prefix)
    {
        var storeId = prefix + Guid.NewGuid().ToString("N")[..8];
        var client = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);
        Assert.Equal(HttpStatusCode.OK, (await client.PublishPolicyAsync(storeId, 1)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.SetConsentAsync(storeId, "u1", "analytics", true)).StatusCode);
        return (client, storeId);
    }

    /// <summary>
    /// The edge's count of lease batches sent (null: it sends none), read from this edge's own meter (tests host several
    /// edges in one process, each with a meter of the same name, so /metrics of one may show another's instruments).
    /// </summary>
    private static long? LeaseBatchesSent(IServiceProvider services)
    {
        var meter = services.GetRequiredService<ShopAstro.EdgeApi.Telemetry.EdgeMetrics>().Meter;
        long? sent = null;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, meter) && instrument.Name == "shopastro.decision_cache.lease_batches")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => sent = value);
        listener.Start();
        listener.RecordObservableInstruments();
        return sent;
    }

    /// <summary>
    /// One batch place, taken by a first request (<c>s/hold</c>) until <c>release</c> is called: requests made meanwhile go
    /// together in the next batch, sent with <paramref name="send"/>.
    /// </summary>
    private static (LeaseRequestBatches Batches, Action Release) HeldFirst(Func<LeaseAsk[], Task<LeaseAnswer[]>> send)
    {
        var held = new TaskCompletionSource<LeaseAnswer[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        var batches = Batches(asks => asks is [{ Key: "s/hold" }] ? held.Task : send(asks), maxInFlight: 1);
        _ = batches.RequestAsync("s/hold");
        return (batches, () => held.SetResult([LeaseAnswer.Granted(Lease(9))]));
    }

    /// <summary>An epoch confirmed now: leases requested from now on are used.</summary>
    private static HolderEpoch Registered(TimeProvider time)
    {
        var epoch = new HolderEpoch(time);
        Assert.True(epoch.Confirmed(time.GetTimestamp(), ILeaseHolderRegistryGrain.Expiry, TimeSpan.FromSeconds(2)));
        return epoch;
    }

    /// <summary>Batches that are never slow (the tests of slow batches say how long is slow).</summary>
    private static LeaseRequestBatches Batches(Func<LeaseAsk[], Task<LeaseAnswer[]>> send, int maxInFlight, int maxBatch = LeaseRequestBatches.DefaultMaxBatch) =>
        new(send, maxInFlight, TimeProvider.System, TimeSpan.FromHours(1), maxBatch);

    private static DecisionLease Lease(int seconds) => new(Record, TimeSpan.FromSeconds(seconds));

    private static void InterlockedMax(ref int location, int value)
    {
        var current = Volatile.Read(ref location);
        while (value > current && Interlocked.CompareExchange(ref location, value, current) is var seen && seen != current)
        {
            current = seen;
        }
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(10);
        }
    }
}
