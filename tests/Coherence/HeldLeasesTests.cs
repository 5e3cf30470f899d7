using System.Collections.Concurrent;
using System.Collections.Immutable;
using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Coherence;

/// <summary>The holder side of decision leases (<see cref="HeldLeases"/>).</summary>
public sealed class HeldLeasesTests
{
    [Fact]
    public async Task A_check_that_joined_a_request_whose_lease_ran_out_before_the_check_started_asks_for_a_new_one()
    {
        // A request sent at 0 s is answered with a lease cut at 1 s (a scheduled version takes effect then); a check
        // that started at 2 s joined it and must not decide under the version before.
        var time = new SteppingTime();
        var (leases, answers) = Leases(time);
        var before = Policy(12);
        var after = Policy(13);

        var first = leases.LeaseForCheckAsync("s", "s/u2", startedAt: time.GetTimestamp());
        time.Now = TimeSpan.FromSeconds(2).Ticks;
        var joined = leases.LeaseForCheckAsync("s", "s/u2", startedAt: time.GetTimestamp());
        Assert.True(answers.TryDequeue(out var sent));
        sent.SetResult(new DecisionLease(before, SubjectRecord.Empty, TimeSpan.FromSeconds(1)));

        // The check that sent the request started before the lease ran out: it decides from it.
        Assert.Same(before, (await first.AsTask().WaitAsync(Timeout)).Policy);
        TaskCompletionSource<DecisionLease>? second = null;
        await WaitUntil(() => answers.TryDequeue(out second));
        Assert.False(joined.IsCompleted);
        second!.SetResult(new DecisionLease(after, SubjectRecord.Empty, TimeSpan.FromSeconds(5)));
        Assert.Same(after, (await joined.AsTask().WaitAsync(Timeout)).Policy);
    }

    [Fact]
    public async Task A_check_that_joined_a_request_whose_lease_still_ran_when_the_check_started_decides_from_it()
    {
        var time = new SteppingTime();
        var (leases, answers) = Leases(time);

        var first = leases.LeaseForCheckAsync("s", "s/u1", startedAt: time.GetTimestamp());
        time.Now = TimeSpan.FromSeconds(1).Ticks;
        var joined = leases.LeaseForCheckAsync("s", "s/u1", startedAt: time.GetTimestamp());
        time.Now = TimeSpan.FromSeconds(3).Ticks;
        Assert.True(answers.TryDequeue(out var sent));
        sent.SetResult(new DecisionLease(Policy(1), SubjectRecord.Empty, TimeSpan.FromSeconds(2)));

        Assert.Same((await first.AsTask().WaitAsync(Timeout)).Policy, (await joined.AsTask().WaitAsync(Timeout)).Policy);
        Assert.Empty(answers);
    }

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>Leases whose requests wait in <c>answers</c>, in order, until the test answers them.</summary>
    private static (HeldLeases Leases, ConcurrentQueue<TaskCompletionSource<DecisionLease>> Answers) Leases(TimeProvider time)
    {
        var answers = new ConcurrentQueue<TaskCompletionSource<DecisionLease>>();
        var leases = new HeldLeases(time, new HolderEpoch(time), (_, _) =>
        {
            var answer = new TaskCompletionSource<DecisionLease>();
            answers.Enqueue(answer);
            return answer.Task;
        }, new HeldPolicies());
        return (leases, answers);
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

    private static StorePolicy Policy(int version) =>
        new(version, StoreStatus.Active, true, ImmutableDictionary<Purpose, PurposeSetting>.Empty,
            ImmutableDictionary<Purpose, int>.Empty, DateTimeOffset.UnixEpoch.AddSeconds(version));
}
