using System.Collections.Immutable;
using ShopAstro.Grains;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Tests.Unit;

/// <summary>The rules of new policy versions and the version in force over time, as tables.</summary>
public sealed class PolicyVersionsTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Notice = TimeSpan.FromDays(7);
    private static readonly TimeSpan Lead = TimeSpan.FromSeconds(30);
    private static readonly PolicyVersions Versions = new(Notice, Lead);

    private static PolicyUpdate Update(int version, bool material = false, DateTimeOffset? at = null, bool attestation = true) =>
        new(version, StoreStatus.Active, attestation,
            ImmutableDictionary<Purpose, PurposeSetting>.Empty.Add(Purpose.Analytics, new PurposeSetting(true, material))
                .Add(Purpose.Recommendation, new PurposeSetting(true, false)), at);

    private static StoreState Published(params PolicyUpdate[] updates)
    {
        var state = new StoreState();
        foreach (var update in updates)
        {
            var result = new PolicyVersions(TimeSpan.Zero, TimeSpan.Zero).Check(state, update, update.EffectiveAt is null ? Now - TimeSpan.FromDays(30) : Now);
            Assert.Equal(PolicyPublishStatus.Published, result.Status);
            state = result.Policy!.EffectiveAt is null
                ? state with { Policy = result.Policy, History = state.History.Add(result.Policy) }
                : state with { Scheduled = state.Scheduled.Add(result.Policy) };
        }

        return state;
    }

    public static TheoryData<string, StoreState, PolicyUpdate, PolicyPublishStatus, DateTimeOffset?> Cases => new()
    {
        { "first version, material, at once: nothing to give notice of", new StoreState(), Update(1, material: true), PolicyPublishStatus.Published, null },
        { "immaterial change at once", Published(Update(1)), Update(2), PolicyPublishStatus.Published, null },
        { "material change at once", Published(Update(1)), Update(2, material: true), PolicyPublishStatus.NoticePeriodRequired, Now + Notice },
        { "material change a day short of notice", Published(Update(1)), Update(2, true, Now + Notice - TimeSpan.FromDays(1)), PolicyPublishStatus.NoticePeriodRequired, Now + Notice },
        { "material change with exactly the notice", Published(Update(1)), Update(2, true, Now + Notice), PolicyPublishStatus.Published, null },
        { "scheduled closer than a lease", Published(Update(1)), Update(2, false, Now + Lead - TimeSpan.FromTicks(1)), PolicyPublishStatus.EffectiveAtTooSoon, Now + Lead },
        { "scheduled a lease ahead", Published(Update(1)), Update(2, false, Now + Lead), PolicyPublishStatus.Published, null },
        { "version not above a scheduled one", Published(Update(1), Update(2, false, Now + TimeSpan.FromHours(1))), Update(2, false, Now + TimeSpan.FromHours(2)), PolicyPublishStatus.VersionNotIncreasing, null },
        { "at once while one is scheduled", Published(Update(1), Update(2, false, Now + TimeSpan.FromHours(1))), Update(3), PolicyPublishStatus.EffectiveBeforeScheduled, Now + TimeSpan.FromHours(1) },
        { "before a scheduled one", Published(Update(1), Update(2, false, Now + TimeSpan.FromHours(1))), Update(3, false, Now + TimeSpan.FromMinutes(30)), PolicyPublishStatus.EffectiveBeforeScheduled, Now + TimeSpan.FromHours(1) },
        { "after a scheduled one", Published(Update(1), Update(2, false, Now + TimeSpan.FromHours(1))), Update(3, false, Now + TimeSpan.FromHours(2)), PolicyPublishStatus.Published, null },
        { "recommendation without attestation", Published(Update(1)), Update(2, attestation: false), PolicyPublishStatus.SellerAttestationRequired, null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_new_version_is_checked_against_the_stored_ones(string name, StoreState stored, PolicyUpdate update, PolicyPublishStatus expected, DateTimeOffset? earliest)
    {
        var result = Versions.Check(stored, update, Now);
        Assert.True(expected == result.Status, $"{name}: {result.Status}");
        Assert.Equal(earliest, result.Earliest);
    }

    [Fact]
    public void Material_changes_accumulate_through_scheduled_versions()
    {
        var stored = Published(Update(1), Update(2, true, Now + Notice));
        var third = Versions.Check(stored, Update(3, false, Now + Notice + TimeSpan.FromDays(1)), Now).Policy!;
        Assert.Equal(2, third.MaterialChangeVersionOf(Purpose.Analytics));
    }

    [Fact]
    public void A_lease_never_runs_past_the_next_scheduled_instant_nor_past_one_being_written()
    {
        var at = Now + TimeSpan.FromSeconds(20);
        var lease = TimeSpan.FromSeconds(30);
        var stored = Published(Update(1), Update(2, false, at));
        Assert.Equal(TimeSpan.FromSeconds(20), stored.LeaseAt(Now, lease, writing: null));
        Assert.Equal(TimeSpan.FromSeconds(5), stored.LeaseAt(Now, lease, writing: Now + TimeSpan.FromSeconds(5)));
        Assert.Equal(TimeSpan.FromSeconds(20), stored.LeaseAt(Now, lease, writing: at + TimeSpan.FromSeconds(1)));
        Assert.Equal(lease, stored.LeaseAt(at, lease, writing: null));
        Assert.Equal(lease, Published(Update(1)).LeaseAt(Now, lease, writing: null));
    }

    [Fact]
    public void The_version_in_force_follows_the_schedule_and_folding_keeps_it()
    {
        var at = Now + TimeSpan.FromHours(1);
        var stored = Published(Update(1), Update(2, false, at), Update(3, false, at + TimeSpan.FromHours(1)));
        Assert.Equal(1, stored.CurrentAt(at - TimeSpan.FromTicks(1))!.Version);
        Assert.Equal(2, stored.CurrentAt(at)!.Version);
        Assert.Equal(3, stored.CurrentAt(at + TimeSpan.FromHours(2))!.Version);
        Assert.Equal(at, stored.NextChangeAfter(Now));
        Assert.Equal(at + TimeSpan.FromHours(1), stored.NextChangeAfter(at));
        Assert.Null(stored.NextChangeAfter(at + TimeSpan.FromHours(1)));
        Assert.Equal([2, 3], stored.UpcomingAt(Now).Select(p => p.Version));

        var folded = stored.FoldedAt(at);
        Assert.Equal(2, folded.Policy!.Version);
        Assert.Equal([1, 2], folded.History.Select(p => p.Version));
        Assert.Equal([3], folded.Scheduled.Select(p => p.Version));
        Assert.Same(folded, folded.FoldedAt(at));
        foreach (var time in new[] { at, at + TimeSpan.FromMinutes(59), at + TimeSpan.FromMinutes(90) })
        {
            Assert.Equal(stored.CurrentAt(time), folded.CurrentAt(time));
        }
    }

    [Fact]
    public void A_scheduled_version_can_be_cancelled_until_a_lease_before_it()
    {
        var at = Now + TimeSpan.FromHours(1);
        var stored = Published(Update(1), Update(2, false, at));
        Assert.Equal(PolicyCancelStatus.Cancelled, Versions.CheckCancel(stored, 2, Now));
        Assert.Equal(PolicyCancelStatus.TooLate, Versions.CheckCancel(stored, 2, at - Lead + TimeSpan.FromTicks(1)));
        Assert.Equal(PolicyCancelStatus.NotScheduled, Versions.CheckCancel(stored, 2, at));
        Assert.Equal(PolicyCancelStatus.NotScheduled, Versions.CheckCancel(stored, 1, Now));
    }

    [Fact]
    public void The_default_notice_is_seven_days() => Assert.Equal(TimeSpan.FromDays(7), new PolicyOptions().MaterialNoticePeriod);
}
