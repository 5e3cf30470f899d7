using System.Collections.Immutable;
using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Coherence;

/// <summary>A subject's copy of its store's policy (<see cref="PolicyCopy"/>).</summary>
public sealed class PolicyCopyTests
{
    private static StorePolicy Policy(int version, StoreStatus status, int publishedAtSecond) =>
        new(version, status, true, ImmutableDictionary<Purpose, PurposeSetting>.Empty,
            ImmutableDictionary<Purpose, int>.Empty, DateTimeOffset.UnixEpoch.AddSeconds(publishedAtSecond));

    [Fact]
    public async Task A_refresh_that_completed_at_once_is_not_handed_out_again_as_the_next_refresh()
    {
        var source = new Source { Answer = new PolicyLease(Policy(1, StoreStatus.Active, 1), TimeSpan.FromSeconds(30)) };
        var copy = new PolicyCopy(TimeProvider.System, source);

        await copy.RefreshAsync();
        source.Answer = new PolicyLease(Policy(2, StoreStatus.Suspended, 2), TimeSpan.FromSeconds(30));
        await copy.RefreshAsync();

        Assert.Equal(2, source.Calls);
        Assert.Equal(2, copy.Policy?.Version);
    }

    [Fact]
    public async Task An_older_answer_never_replaces_a_newer_copy_and_a_version_republished_after_a_failure_does()
    {
        var source = new Source { Answer = new PolicyLease(Policy(2, StoreStatus.Active, 5), TimeSpan.FromSeconds(30)) };
        var copy = new PolicyCopy(TimeProvider.System, source);
        copy.Accept(Policy(3, StoreStatus.Suspended, 6));

        await copy.RefreshAsync(); // a late lease answer with version 2
        Assert.Equal((3, StoreStatus.Suspended), (copy.Policy!.Version, copy.Policy.Status));

        // Version 3 published again (its first publish failed and was never stored): the later publish wins.
        copy.Accept(Policy(3, StoreStatus.Active, 9));
        Assert.Equal((3, StoreStatus.Active), (copy.Policy.Version, copy.Policy.Status));
        copy.Accept(Policy(3, StoreStatus.Suspended, 6));
        Assert.Equal(StoreStatus.Active, copy.Policy.Status);
    }

    [Fact]
    public async Task The_copy_runs_out_counted_from_before_its_request()
    {
        var time = new SteppingTime();
        var source = new Source { Answer = new PolicyLease(Policy(1, StoreStatus.Active, 1), TimeSpan.FromSeconds(30)), Time = time };
        var copy = new PolicyCopy(time, source);

        await copy.RefreshAsync(); // the answer takes 2 s to come
        Assert.Equal(TimeSpan.FromSeconds(30).Ticks, copy.ExpiresAt);
        time.Now = TimeSpan.FromSeconds(30).Ticks - 1;
        Assert.False(copy.Expired);
        time.Now = TimeSpan.FromSeconds(30).Ticks;
        Assert.True(copy.Expired);
    }

    [Fact]
    public async Task A_copy_names_its_version_and_keeps_it_when_the_lease_comes_back_without_a_policy()
    {
        var v1 = Policy(1, StoreStatus.Active, 10);
        var time = new SteppingTime();
        var source = new Source { Answer = new PolicyLease(v1, TimeSpan.FromSeconds(30)), Time = time };
        var copy = new PolicyCopy(time, source);
        await copy.RefreshAsync();
        Assert.Null(source.Held);
        var expiresAt = copy.ExpiresAt;

        source.Answer = new PolicyLease(null, TimeSpan.FromSeconds(30));
        await copy.RefreshAsync();

        Assert.Equal(PolicyStamp.Of(v1), source.Held);
        Assert.Same(v1, copy.Policy);
        Assert.True(copy.ExpiresAt > expiresAt);
    }

    [Fact]
    public async Task A_caller_that_joins_a_refresh_which_brings_a_lease_already_run_out_asks_again_before_using_the_copy()
    {
        // A refresh sent at 0 s comes back at 10 s with a lease cut at 5 s (a scheduled version took effect then).
        var time = new SteppingTime();
        var source = new QueuedSource();
        var copy = new PolicyCopy(time, source);
        var earlier = copy.RefreshAsync();
        time.Now = TimeSpan.FromSeconds(10).Ticks;

        var ensured = copy.EnsureAsync();
        source.Answer(new PolicyLease(Policy(1, StoreStatus.Active, 1), TimeSpan.FromSeconds(5)));
        await earlier;
        Assert.True(copy.Expired);
        Assert.False(ensured.IsCompleted);

        source.Answer(new PolicyLease(Policy(2, StoreStatus.Suspended, 5), TimeSpan.FromSeconds(30)));
        await ensured;
        Assert.Equal(2, copy.Policy!.Version);
        Assert.False(copy.Expired);
        Assert.Equal(2, source.Requests);
    }

    [Fact]
    public async Task A_copy_whose_leases_keep_running_out_on_arrival_is_not_used_and_the_caller_fails()
    {
        var time = new SteppingTime { Now = TimeSpan.FromSeconds(10).Ticks };
        var source = new QueuedSource { Time = time };
        var copy = new PolicyCopy(time, source);
        var ensured = copy.EnsureAsync();
        for (var i = 0; i < PolicyCopy.MaxRequests; i++)
        {
            await Task.Yield();
            source.Answer(new PolicyLease(Policy(1, StoreStatus.Active, 1), TimeSpan.FromSeconds(1)));
        }

        await Assert.ThrowsAsync<TimeoutException>(() => ensured);
        Assert.Equal(PolicyCopy.MaxRequests, source.Requests);
        Assert.True(copy.Expired);
    }

    /// <summary>Answers requests in order, when told to; with <see cref="Time"/>, each answer takes 2 s to come.</summary>
    private sealed class QueuedSource : IPolicyLeaseSource
    {
        private readonly Queue<TaskCompletionSource<PolicyLease>> _waiting = new();
        private readonly Queue<PolicyLease> _early = new();

        public SteppingTime? Time { get; init; }

        public int Requests { get; private set; }

        public Task<PolicyLease> AcquirePolicyLeaseAsync(PolicyStamp? held)
        {
            Requests++;
            if (_early.TryDequeue(out var answer))
            {
                return Task.FromResult(Arrive(answer));
            }

            var waiting = new TaskCompletionSource<PolicyLease>();
            _waiting.Enqueue(waiting);
            return waiting.Task;
        }

        public void Answer(PolicyLease lease)
        {
            if (_waiting.TryDequeue(out var waiting))
            {
                waiting.SetResult(Arrive(lease));
            }
            else
            {
                _early.Enqueue(lease);
            }
        }

        public void Received(PolicyLease lease)
        {
        }

        private PolicyLease Arrive(PolicyLease lease)
        {
            if (Time is { } time)
            {
                time.Now += TimeSpan.FromSeconds(2).Ticks;
            }

            return lease;
        }
    }

    private sealed class Source : IPolicyLeaseSource
    {
        public PolicyLease Answer { get; set; } = null!;

        public SteppingTime? Time { get; init; }

        public int Calls { get; private set; }

        public PolicyStamp? Held { get; private set; }

        public Task<PolicyLease> AcquirePolicyLeaseAsync(PolicyStamp? held)
        {
            Calls++;
            Held = held;
            if (Time is { } time)
            {
                time.Now += TimeSpan.FromSeconds(2).Ticks;
            }

            return Task.FromResult(Answer);
        }

        public void Received(PolicyLease lease)
        {
        }
    }
}
