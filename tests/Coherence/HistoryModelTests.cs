using ShopAstro.Tests.Coherence.History;

namespace ShopAstro.Tests.Coherence;

/// <summary>
/// The history check's model of S1 (tests/Coherence/History/HistoryModel.cs) when a write's outcome was not known: the
/// next acknowledged change is restrictive from one state it may have started from and not from another. The grain
/// judged it from the state it had; an edge may answer from that state after the acknowledgement only if the change
/// was not restrictive from it (found in 10-minute runs: "no_consent" answered after an acknowledged withdrawal that
/// followed a grant the client saw fail and that was not stored).
/// </summary>
public sealed class HistoryModelTests
{
    private static readonly SubjectState None = SubjectState.Initial;
    private static readonly SubjectState Granted = new(ModelStatus.Active, ModelConsent.Granted);
    private static readonly SubjectState Withdrawn = new(ModelStatus.Active, ModelConsent.Withdrawn);

    [Fact]
    public void After_an_acknowledged_change_only_the_states_it_did_not_restrict_may_still_be_answered()
    {
        var timeline = new Timeline<SubjectState>(None);
        // A grant its client saw fail: stored or not.
        timeline.Add(new("grant", 0, 10, false, false, false, [None, Granted], [Granted]));
        // An acknowledged withdrawal: restrictive from the grant, not from no consent at all.
        timeline.Add(new("withdraw", 20, 30, true, true, false, [Withdrawn], [Withdrawn], [None]));

        var admissible = timeline.Admissible(40, 41);

        Assert.Contains(Withdrawn, admissible);
        Assert.Contains(None, admissible);
        Assert.DoesNotContain(Granted, admissible);
    }

    [Fact]
    public void A_change_restrictive_from_every_state_it_may_have_started_from_leaves_only_what_it_wrote()
    {
        var timeline = new Timeline<SubjectState>(None);
        timeline.Add(new("grant", 0, 10, true, false, false, [Granted], [Granted], [None]));
        timeline.Add(new("withdraw", 20, 30, true, true, false, [Withdrawn], [Withdrawn], []));

        Assert.Equal([Withdrawn], timeline.Admissible(40, 41));
    }
}
