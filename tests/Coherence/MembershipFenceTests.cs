using ShopAstro.Coherence;
using ShopAstro.Tests.Coherence.Simulation;

namespace ShopAstro.Tests.Coherence;

/// <summary>
/// A silo's <see cref="MembershipFence"/>: answers leave only within its validity of the start of a read that named the
/// silo alive; a silo that was paused waits for a new read, and one declared dead never answers again. Run on the
/// simulation's clock.
/// </summary>
public sealed class MembershipFenceTests
{
    private static readonly TimeSpan Validity = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    private readonly SimWorld _world = new(seed: 11);
    private readonly SimProcess _silo;
    private readonly MembershipFence _fence;
    private int _wanted;

    public MembershipFenceTests()
    {
        _silo = new SimProcess(_world, "silo");
        _fence = new MembershipFence(_world.Clock, Validity);
        _fence.ConfirmationWanted += () => _wanted++;
    }

    [Fact]
    public void It_is_fresh_from_a_confirmation_until_a_validity_after_the_read_started_never_after()
    {
        Assert.False(_fence.IsFresh); // nothing confirmed yet
        var seen = new List<(int Ms, bool Fresh)>();
        At(100, () => _fence.Confirmed(Timestamp(40))); // a read sent at 40 ms, answered at 100 ms
        foreach (var ms in new[] { 100, 539, 540, 541 })
        {
            At(ms, () => seen.Add((ms, _fence.IsFresh)));
        }

        At(600, () => _fence.Confirmed(Timestamp(10))); // an older read answered late extends nothing
        At(600, () => seen.Add((600, _fence.IsFresh)));
        _world.RunUntil(Timestamp(1_000));

        Assert.Equal([(100, true), (539, true), (540, false), (541, false), (600, false)], seen);
    }

    [Fact]
    public void An_answer_after_a_pause_waits_for_a_new_confirmation_and_asks_for_it()
    {
        At(0, () => _fence.Confirmed(Timestamp(0)));
        var answeredAt = -1L;
        // The silo resumes at 3 s: its last confirmation is long gone.
        At(3_000, () => _silo.Run(async () =>
        {
            await _fence.WhenFreshAsync(Patience);
            answeredAt = _world.Clock.Ticks;
        }));
        At(3_020, () => _fence.Confirmed(Timestamp(3_005)));
        _world.RunUntil(Timestamp(10_000));

        Assert.Equal(Timestamp(3_020), answeredAt);
        Assert.True(_wanted > 0);
    }

    [Fact]
    public void A_silo_declared_dead_answers_nothing_again_even_after_a_later_read()
    {
        At(0, () => _fence.Confirmed(Timestamp(0)));
        Exception? failure = null;
        var answered = false;
        At(2_000, () => _silo.Run(async () =>
        {
            try
            {
                await _fence.WhenFreshAsync(Patience);
                answered = true;
            }
            catch (Exception exception)
            {
                failure = exception;
            }
        }));
        At(2_010, _fence.Disown);
        At(2_100, () => _fence.Confirmed(Timestamp(2_090)));
        _world.RunUntil(Timestamp(10_000));

        Assert.False(answered);
        Assert.IsType<Orleans.Runtime.SiloUnavailableException>(failure);
        Assert.True(_fence.Disowned);
        Assert.False(_fence.IsFresh);
    }

    [Fact]
    public void An_answer_that_no_read_confirms_fails_after_its_patience()
    {
        Exception? failure = null;
        var failedAt = -1L;
        At(1_000, () => _silo.Run(async () =>
        {
            try
            {
                await _fence.WhenFreshAsync(Patience);
            }
            catch (Exception exception)
            {
                failure = exception;
                failedAt = _world.Clock.Ticks;
            }
        }));
        _world.RunUntil(Timestamp(20_000));

        Assert.IsType<TimeoutException>(failure);
        Assert.Equal(Timestamp(6_000), failedAt);
    }

    /// <summary>What the fence is for, over whole schedules: without it, a silo paused past its death declaration answers from replaced state.</summary>
    [Fact]
    public void Without_the_fence_silos_paused_past_their_death_declaration_break_S1_and_with_it_they_do_not()
    {
        var faults = new SimFaults(SiloPause: 0.1);
        var unfenced = SimRuns.Violations(60, seed => new SimCluster(seed, faults, fenced: false));
        var fenced = SimRuns.Violations(60, seed => new SimCluster(seed, faults));

        Assert.True(unfenced > 0, "the silo pauses of these schedules never mattered: the test shows nothing");
        Assert.Equal(0, fenced);
    }

    private static long Timestamp(int milliseconds) => TimeSpan.FromMilliseconds(milliseconds).Ticks;

    private void At(int millisecond, Action work) => _world.At(TimeSpan.FromTicks(Timestamp(millisecond) - _world.Clock.Ticks), _silo, work);
}
