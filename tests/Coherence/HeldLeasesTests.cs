using System.Collections.Concurrent;
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
        // A request sent at 0 s is answered with a lease of 1 s; a check that started at 2 s joined it and must not
        // decide from it: a change this edge did not confirm was acknowledged once that lease ran out.
        var time = new SteppingTime();
        var (leases, answers) = Leases(time);
        var before = Record(SubjectStatus.Active);
        var after = Record(SubjectStatus.Minor);

        var first = leases.LeaseForCheckAsync("s/u2", startedAt: time.GetTimestamp());
        time.Now = TimeSpan.FromSeconds(2).Ticks;
        var joined = leases.LeaseForCheckAsync("s/u2", startedAt: time.GetTimestamp());
        Assert.True(answers.TryDequeue(out var sent));
        sent.SetResult(new DecisionLease(before, TimeSpan.FromSeconds(1)));

        // The check that sent the request started before the lease ran out: it decides from it.
        Assert.Same(before, (await first.AsTask().WaitAsync(Timeout))!.Subject);
        TaskCompletionSource<DecisionLease>? second = null;
        await WaitUntil(() => answers.TryDequeue(out second));
        Assert.False(joined.IsCompleted);
        second!.SetResult(new DecisionLease(after, TimeSpan.FromSeconds(5)));
        Assert.Same(after, (await joined.AsTask().WaitAsync(Timeout))!.Subject);
    }

    [Fact]
    public async Task A_check_that_joined_a_request_whose_lease_still_ran_when_the_check_started_decides_from_it()
    {
        var time = new SteppingTime();
        var (leases, answers) = Leases(time);

        var first = leases.LeaseForCheckAsync("s/u1", startedAt: time.GetTimestamp());
        time.Now = TimeSpan.FromSeconds(1).Ticks;
        var joined = leases.LeaseForCheckAsync("s/u1", startedAt: time.GetTimestamp());
        time.Now = TimeSpan.FromSeconds(3).Ticks;
        Assert.True(answers.TryDequeue(out var sent));
        sent.SetResult(new DecisionLease(Record(SubjectStatus.Active), TimeSpan.FromSeconds(2)));

        Assert.Same((await first.AsTask().WaitAsync(Timeout))!.Subject, (await joined.AsTask().WaitAsync(Timeout))!.Subject);
        Assert.Empty(answers);
    }

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>Leases whose requests wait in <c>answers</c>, in order, until the test answers them.</summary>
    private static (HeldLeases Leases, ConcurrentQueue<TaskCompletionSource<DecisionLease>> Answers) Leases(TimeProvider time)
    {
        var answers = new ConcurrentQueue<TaskCompletionSource<DecisionLease>>();
        var epoch = new HolderEpoch(time);
        epoch.Confirmed(0, TimeSpan.FromHours(1), TimeSpan.Zero);
        var leases = new HeldLeases(time, epoch, _ =>
        {
            var answer = new TaskCompletionSource<DecisionLease>();
            answers.Enqueue(answer);
            return answer.Task;
        });
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

    private static SubjectRecord Record(SubjectStatus status) => SubjectRecord.Empty with { Status = status };
}
