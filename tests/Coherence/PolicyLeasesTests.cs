using ShopAstro.Coherence;
using ShopAstro.Tests.Coherence.Simulation;

namespace ShopAstro.Tests.Coherence;

/// <summary>
/// The grant side of a store's policy leases (<see cref="PolicyLeases"/>): a publish returns only once every copy of
/// the policy that may still be used has the new version or has run out. Run on the simulation's clock.
/// </summary>
public sealed class PolicyLeasesTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private readonly SimWorld _world = new(seed: 7);
    private readonly SimProcess _store;
    private readonly PolicyLeases _leases;
    private readonly List<string> _pushed = [];
    private int _failures;

    public PolicyLeasesTests()
    {
        _store = new SimProcess(_world, "store");
        _leases = new PolicyLeases(_world.Clock, Lease);
    }

    [Fact]
    public void A_publish_reaches_every_running_lease_and_returns_without_waiting_when_each_took_it()
    {
        At(0, () => _leases.Granted("a", Lease));
        At(10, () => _leases.Granted("b", Lease));
        At(10, () => _leases.Granted("expired", TimeSpan.FromSeconds(2)));
        var (holders, returnedAt) = Publish(atSecond: 20, push: _ => Task.CompletedTask);

        Assert.Equal(2, holders);
        Assert.Equal(["a", "b"], _pushed.Order());
        Assert.Equal(Seconds(20), returnedAt);
        Assert.Equal(2, _leases.Count); // the run-out one is forgotten
    }

    [Fact]
    public void A_holder_that_does_not_take_the_version_is_waited_out_until_its_lease_runs_out_never_less()
    {
        At(0, () => _leases.Granted("unreachable", Lease));
        At(5, () => _leases.Granted("failing", Lease));
        At(5, () => _leases.Granted("fine", Lease));
        var (holders, returnedAt) = Publish(atSecond: 10, push: subject => subject switch
        {
            "unreachable" => new TaskCompletionSource().Task, // never answers: the timeout
            "failing" => Task.FromException(new InvalidOperationException("activation failed")),
            _ => Task.CompletedTask,
        });

        Assert.Equal(3, holders);
        Assert.Equal(2, _failures);
        // The later of the two unreached leases: granted at 5 s for 30 s.
        Assert.Equal(Seconds(35), returnedAt);
    }

    /// <summary>A new activation of a stored store waits out the leases an earlier one may have handed out; a first one has none.</summary>
    [Theory]
    [InlineData(true, 30)]
    [InlineData(false, 1)]
    public void A_publish_waits_out_the_leases_an_earlier_activation_of_the_store_may_have_handed_out(bool earlier, int returnsAtSecond)
    {
        At(0, () => _leases.Activated(earlierActivationsMayHaveLeased: earlier));
        var (holders, returnedAt) = Publish(atSecond: 1, push: _ => Task.CompletedTask);

        Assert.Equal(0, holders);
        Assert.Equal(Seconds(returnsAtSecond), returnedAt);
    }

    [Fact]
    public void Holders_whose_lease_ran_out_do_not_pile_up_between_publishes()
    {
        At(0, () =>
        {
            for (var i = 0; i < 50_000; i++)
            {
                _world.Clock.Ticks += TimeSpan.FromMilliseconds(10).Ticks; // 100 new subjects a second, 30 s leases
                _leases.Granted($"s{i}", Lease);
            }
        });
        _world.RunUntil(TimeSpan.FromSeconds(1).Ticks);

        // About 3,000 leases run at any time; the table keeps at most about twice that.
        Assert.InRange(_leases.Count, 3_000, 6_001);
    }

    private static long Seconds(int seconds) => TimeSpan.FromSeconds(seconds).Ticks;

    private void At(int second, Action work) => _world.At(TimeSpan.FromSeconds(second) - TimeSpan.FromTicks(_world.Clock.Ticks), _store, work);

    private (int Holders, long ReturnedAt) Publish(int atSecond, Func<string, Task> push)
    {
        var holders = -1;
        var returnedAt = -1L;
        At(atSecond, () => _store.Run(async () =>
        {
            holders = await _leases.PushAsync(
                subject =>
                {
                    _pushed.Add(subject);
                    return push(subject);
                },
                Timeout,
                _ => _failures++);
            returnedAt = _world.Clock.Ticks;
        }));
        _world.RunUntil(TimeSpan.FromMinutes(5).Ticks);
        Assert.Null(_world.Fault);
        Assert.True(returnedAt >= 0, "the publish never returned");
        return (holders, returnedAt);
    }
}
