using System.Collections.Immutable;
using ShopAstro.Grains;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Tests.Unit;

/// <summary>
/// The precedence table of policy-rules.md, one row per situation: each reason code on its own, and every pair
/// of rules that can both apply, showing that the earlier rule decides.
/// </summary>
public sealed class DecisionEngineTests
{
    private static readonly ImmutableArray<Row> _rows =
    [
        // Each reason code reached on its own.
        new("necessary: allowed without any consent", Purpose.Necessary, Policy(), Subject(), NoSignal, true, DecisionReason.Necessary),
        new("cart: allowed as the contract without any consent", Purpose.Cart, Policy(), Subject(), NoSignal, true, DecisionReason.Contract),
        new("analytics granted under the current policy", Purpose.Analytics, Policy(), Subject(analytics: Grant()), NoSignal, true, DecisionReason.Granted),
        new("recommendation granted", Purpose.Recommendation, Policy(), Subject(recommendation: Grant()), NoSignal, true, DecisionReason.Granted),
        new("advertising granted", Purpose.Advertising, Policy(), Subject(advertising: Grant()), NoSignal, true, DecisionReason.Granted),
        new("affiliate_sharing granted", Purpose.AffiliateSharing, Policy(), Subject(affiliateSharing: Grant()), NoSignal, true, DecisionReason.Granted),
        new("analytics withdrawn", Purpose.Analytics, Policy(), Subject(analytics: Withdrawal()), NoSignal, false, DecisionReason.Withdrawn),
        new("analytics never chosen", Purpose.Analytics, Policy(), Subject(), NoSignal, false, DecisionReason.NoConsent),
        new("grant before a material change of the purpose", Purpose.Analytics, Policy(materialChange: (Purpose.Analytics, 5)), Subject(analytics: Grant(version: 4)), NoSignal, false, DecisionReason.ReconsentRequired),
        new("DNT on a grant given without signals", Purpose.Analytics, Policy(), Subject(analytics: Grant()), Dnt, false, DecisionReason.DoNotTrack),
        new("GPC on a grant given without signals", Purpose.Analytics, Policy(), Subject(analytics: Grant()), Gpc, false, DecisionReason.GlobalPrivacyControl),
        new("purpose disabled by the store", Purpose.Analytics, Policy(disabled: [Purpose.Analytics]), Subject(), NoSignal, false, DecisionReason.PurposeDisabled),
        new("store unknown", Purpose.Analytics, null, Subject(), NoSignal, false, DecisionReason.StoreUnknown),
        new("store suspended", Purpose.Analytics, Policy(StoreStatus.Suspended), Subject(), NoSignal, false, DecisionReason.StoreSuspended),
        new("account cancelled", Purpose.Analytics, Policy(), Subject(SubjectStatus.Cancelled), NoSignal, false, DecisionReason.AccountCancelled),
        new("subject is a minor", Purpose.Analytics, Policy(), Subject(SubjectStatus.Minor), NoSignal, false, DecisionReason.Minor),

        // Rule 1 beats everything.
        new("necessary beats store unknown", Purpose.Necessary, null, Subject(), NoSignal, true, DecisionReason.Necessary),
        new("necessary beats store suspended", Purpose.Necessary, Policy(StoreStatus.Suspended), Subject(), NoSignal, true, DecisionReason.Necessary),
        new("necessary beats account cancelled", Purpose.Necessary, Policy(), Subject(SubjectStatus.Cancelled), NoSignal, true, DecisionReason.Necessary),
        new("necessary beats minor", Purpose.Necessary, Policy(), Subject(SubjectStatus.Minor), NoSignal, true, DecisionReason.Necessary),
        new("necessary beats DNT and GPC", Purpose.Necessary, Policy(), Subject(), DntAndGpc, true, DecisionReason.Necessary),
        new("necessary beats the store disabling it", Purpose.Necessary, Policy(disabled: [Purpose.Necessary]), Subject(), NoSignal, true, DecisionReason.Necessary),

        // Rule 2: store unknown beats the subject and purpose rules.
        new("store unknown beats account cancelled", Purpose.Analytics, null, Subject(SubjectStatus.Cancelled), NoSignal, false, DecisionReason.StoreUnknown),
        new("store unknown beats minor", Purpose.Analytics, null, Subject(SubjectStatus.Minor), NoSignal, false, DecisionReason.StoreUnknown),
        new("store unknown beats cart", Purpose.Cart, null, Subject(), NoSignal, false, DecisionReason.StoreUnknown),
        new("store unknown beats a grant", Purpose.Analytics, null, Subject(analytics: Grant()), NoSignal, false, DecisionReason.StoreUnknown),

        // Rule 3: store suspended beats the subject and purpose rules.
        new("store suspended beats account cancelled", Purpose.Analytics, Policy(StoreStatus.Suspended), Subject(SubjectStatus.Cancelled), NoSignal, false, DecisionReason.StoreSuspended),
        new("store suspended beats minor", Purpose.Analytics, Policy(StoreStatus.Suspended), Subject(SubjectStatus.Minor), NoSignal, false, DecisionReason.StoreSuspended),
        new("store suspended beats cart", Purpose.Cart, Policy(StoreStatus.Suspended), Subject(), NoSignal, false, DecisionReason.StoreSuspended),
        new("store suspended beats a grant", Purpose.Analytics, Policy(StoreStatus.Suspended), Subject(analytics: Grant()), NoSignal, false, DecisionReason.StoreSuspended),
        new("store suspended beats purpose disabled", Purpose.Analytics, Policy(StoreStatus.Suspended, disabled: [Purpose.Analytics]), Subject(), NoSignal, false, DecisionReason.StoreSuspended),

        // Rule 4: account cancelled beats cart and any stored grant.
        new("account cancelled beats cart", Purpose.Cart, Policy(), Subject(SubjectStatus.Cancelled), NoSignal, false, DecisionReason.AccountCancelled),
        new("account cancelled beats a stored grant", Purpose.Analytics, Policy(), Subject(SubjectStatus.Cancelled, analytics: Grant()), NoSignal, false, DecisionReason.AccountCancelled),
        new("account cancelled beats purpose disabled", Purpose.Analytics, Policy(disabled: [Purpose.Analytics]), Subject(SubjectStatus.Cancelled), NoSignal, false, DecisionReason.AccountCancelled),

        // Rule 5: minor beats cart and any stored grant.
        new("minor beats cart", Purpose.Cart, Policy(), Subject(SubjectStatus.Minor), NoSignal, false, DecisionReason.Minor),
        new("minor beats a stored grant", Purpose.Analytics, Policy(), Subject(SubjectStatus.Minor, analytics: Grant()), NoSignal, false, DecisionReason.Minor),
        new("minor beats purpose disabled", Purpose.Analytics, Policy(disabled: [Purpose.Analytics]), Subject(SubjectStatus.Minor), NoSignal, false, DecisionReason.Minor),

        // Rule 6: cart is the contract, whatever the store's purpose list, the signals or a recorded choice say.
        new("cart on a store that disabled cart", Purpose.Cart, Policy(disabled: [Purpose.Cart]), Subject(), NoSignal, true, DecisionReason.Contract),
        new("cart on a store whose policy omits cart", Purpose.Cart, Policy(absent: [Purpose.Cart]), Subject(), NoSignal, true, DecisionReason.Contract),
        new("cart with DNT", Purpose.Cart, Policy(), Subject(), Dnt, true, DecisionReason.Contract),
        new("cart with GPC", Purpose.Cart, Policy(), Subject(), Gpc, true, DecisionReason.Contract),
        new("cart with a recorded withdrawal of cart", Purpose.Cart, Policy(), Subject(cart: Withdrawal()), NoSignal, true, DecisionReason.Contract),
        new("cart for an erased subject", Purpose.Cart, Policy(), Subject(SubjectStatus.Erased), NoSignal, true, DecisionReason.Contract),

        // Rule 7: purpose disabled beats the consent rules; a purpose absent from the policy counts as disabled.
        new("purpose absent from the policy", Purpose.Analytics, Policy(absent: [Purpose.Analytics]), Subject(), NoSignal, false, DecisionReason.PurposeDisabled),
        new("purpose disabled beats a grant", Purpose.Analytics, Policy(disabled: [Purpose.Analytics]), Subject(analytics: Grant()), NoSignal, false, DecisionReason.PurposeDisabled),
        new("purpose absent beats a grant", Purpose.Analytics, Policy(absent: [Purpose.Analytics]), Subject(analytics: Grant()), NoSignal, false, DecisionReason.PurposeDisabled),
        new("purpose disabled beats DNT on a grant", Purpose.Analytics, Policy(disabled: [Purpose.Analytics]), Subject(analytics: Grant()), Dnt, false, DecisionReason.PurposeDisabled),
        new("purpose disabled beats GPC on a grant", Purpose.Analytics, Policy(disabled: [Purpose.Analytics]), Subject(analytics: Grant()), Gpc, false, DecisionReason.PurposeDisabled),
        new("purpose disabled beats reconsent required", Purpose.Analytics, Policy(disabled: [Purpose.Analytics], materialChange: (Purpose.Analytics, 5)), Subject(analytics: Grant(version: 4)), NoSignal, false, DecisionReason.PurposeDisabled),
        new("purpose disabled beats withdrawn", Purpose.Analytics, Policy(disabled: [Purpose.Analytics]), Subject(analytics: Withdrawal()), NoSignal, false, DecisionReason.PurposeDisabled),

        // Rule 8: a request signal overrides a grant not given under that same signal; GPC where both would.
        new("DNT beats reconsent required", Purpose.Analytics, Policy(materialChange: (Purpose.Analytics, 5)), Subject(analytics: Grant(version: 4)), Dnt, false, DecisionReason.DoNotTrack),
        new("GPC beats reconsent required", Purpose.Analytics, Policy(materialChange: (Purpose.Analytics, 5)), Subject(analytics: Grant(version: 4)), Gpc, false, DecisionReason.GlobalPrivacyControl),
        new("DNT and GPC on a grant given without signals", Purpose.Analytics, Policy(), Subject(analytics: Grant()), DntAndGpc, false, DecisionReason.GlobalPrivacyControl),
        new("DNT on a grant given with DNT", Purpose.Analytics, Policy(), Subject(analytics: Grant(dnt: true)), Dnt, true, DecisionReason.Granted),
        new("GPC on a grant given with GPC", Purpose.Analytics, Policy(), Subject(analytics: Grant(gpc: true)), Gpc, true, DecisionReason.Granted),
        new("GPC on a grant given with DNT", Purpose.Analytics, Policy(), Subject(analytics: Grant(dnt: true)), Gpc, false, DecisionReason.GlobalPrivacyControl),
        new("DNT on a grant given with GPC", Purpose.Analytics, Policy(), Subject(analytics: Grant(gpc: true)), Dnt, false, DecisionReason.DoNotTrack),
        new("DNT and GPC on a grant given with GPC", Purpose.Analytics, Policy(), Subject(analytics: Grant(gpc: true)), DntAndGpc, false, DecisionReason.DoNotTrack),
        new("DNT and GPC on a grant given with DNT", Purpose.Analytics, Policy(), Subject(analytics: Grant(dnt: true)), DntAndGpc, false, DecisionReason.GlobalPrivacyControl),
        new("DNT and GPC on a grant given with both", Purpose.Analytics, Policy(), Subject(analytics: Grant(dnt: true, gpc: true)), DntAndGpc, true, DecisionReason.Granted),
        new("no signal on a grant given with both", Purpose.Analytics, Policy(), Subject(analytics: Grant(dnt: true, gpc: true)), NoSignal, true, DecisionReason.Granted),
        new("DNT on a withdrawal stays withdrawn", Purpose.Analytics, Policy(), Subject(analytics: Withdrawal()), Dnt, false, DecisionReason.Withdrawn),
        new("GPC on a withdrawal stays withdrawn", Purpose.Analytics, Policy(), Subject(analytics: Withdrawal()), Gpc, false, DecisionReason.Withdrawn),
        new("DNT with no choice stays no_consent", Purpose.Analytics, Policy(), Subject(), Dnt, false, DecisionReason.NoConsent),
        new("GPC with no choice stays no_consent", Purpose.Analytics, Policy(), Subject(), Gpc, false, DecisionReason.NoConsent),
        new("DNT on a grant given with DNT before a material change", Purpose.Analytics, Policy(materialChange: (Purpose.Analytics, 5)), Subject(analytics: Grant(version: 4, dnt: true)), Dnt, false, DecisionReason.ReconsentRequired),

        // Rule 9: only a grant older than this purpose's latest material change needs renewing.
        new("grant at the material-change version", Purpose.Analytics, Policy(materialChange: (Purpose.Analytics, 5)), Subject(analytics: Grant(version: 5)), NoSignal, true, DecisionReason.Granted),
        new("grant one version after the material change", Purpose.Analytics, Policy(materialChange: (Purpose.Analytics, 4)), Subject(analytics: Grant(version: 5)), NoSignal, true, DecisionReason.Granted),
        new("grant one version before an older material change", Purpose.Analytics, Policy(materialChange: (Purpose.Analytics, 3)), Subject(analytics: Grant(version: 2)), NoSignal, false, DecisionReason.ReconsentRequired),
        new("material change of a different purpose", Purpose.Analytics, Policy(materialChange: (Purpose.Recommendation, 5)), Subject(analytics: Grant(version: 4)), NoSignal, true, DecisionReason.Granted),
        new("withdrawal before a material change stays withdrawn", Purpose.Analytics, Policy(materialChange: (Purpose.Analytics, 5)), Subject(analytics: Withdrawal(version: 4)), NoSignal, false, DecisionReason.Withdrawn),
        new("no choice under a material change stays no_consent", Purpose.Analytics, Policy(materialChange: (Purpose.Analytics, 5)), Subject(), NoSignal, false, DecisionReason.NoConsent),

        // Rule 12: consent is per purpose; erasure leaves no choice, and a later grant counts again.
        new("erased subject", Purpose.Analytics, Policy(), Subject(SubjectStatus.Erased), NoSignal, false, DecisionReason.NoConsent),
        new("erased subject with DNT", Purpose.Analytics, Policy(), Subject(SubjectStatus.Erased), Dnt, false, DecisionReason.NoConsent),
        new("erased subject who consented again", Purpose.Analytics, Policy(), Subject(SubjectStatus.Erased, analytics: Grant()), NoSignal, true, DecisionReason.Granted),
        new("grant of another purpose only", Purpose.Analytics, Policy(), Subject(recommendation: Grant()), NoSignal, false, DecisionReason.NoConsent),
    ];

    private static readonly ImmutableDictionary<string, Row> _rowsByName = _rows.ToImmutableDictionary(row => row.Name);

    public static TheoryData<string, bool, DecisionReason> Table
    {
        get
        {
            var data = new TheoryData<string, bool, DecisionReason>();
            foreach (var row in _rows)
            {
                data.Add(row.Name, row.Allowed, row.Reason);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Table))]
    public void Decide_applies_the_first_rule_that_applies(string row, bool allowed, DecisionReason reason)
    {
        var input = _rowsByName[row];

        var decision = DecisionEngine.Decide(input.Policy, input.Subject, input.Purpose, input.Signals);

        Assert.Equal(new Decision(input.Purpose, allowed, reason), decision);
    }

    [Fact]
    public void Table_reaches_every_reason_code()
    {
        var reached = _rows.Select(row => row.Reason).Distinct().Order();

        Assert.Equal(Enum.GetValues<DecisionReason>().Order(), reached);
    }

    private static RequestSignals NoSignal => RequestSignals.None;

    private static RequestSignals Dnt => new(Dnt: true, Gpc: false);

    private static RequestSignals Gpc => new(Dnt: false, Gpc: true);

    private static RequestSignals DntAndGpc => new(Dnt: true, Gpc: true);

    private static DateTimeOffset ChosenAt => new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>An active store at version 5 using every purpose but <c>necessary</c>, with attestation and no material change.</summary>
    private static StorePolicy Policy(
        StoreStatus status = StoreStatus.Active,
        Purpose[]? disabled = null,
        Purpose[]? absent = null,
        (Purpose Purpose, int Version)? materialChange = null)
    {
        const int version = 5;
        var purposes = ImmutableDictionary.CreateBuilder<Purpose, PurposeSetting>();
        foreach (var purpose in Purposes.All.Where(purpose => purpose != Purpose.Necessary))
        {
            if (absent?.Contains(purpose) == true)
            {
                continue;
            }

            var enabled = disabled?.Contains(purpose) != true;
            var changedNow = materialChange is { } change && change.Purpose == purpose && change.Version == version;
            purposes[purpose] = new PurposeSetting(enabled, changedNow);
        }

        if (disabled?.Contains(Purpose.Necessary) == true)
        {
            purposes[Purpose.Necessary] = new PurposeSetting(Enabled: false, MaterialChange: false);
        }

        var materialChanges = materialChange is { } changed
            ? ImmutableDictionary<Purpose, int>.Empty.Add(changed.Purpose, changed.Version)
            : ImmutableDictionary<Purpose, int>.Empty;

        return new StorePolicy(version, status, SellerAttestation: true, purposes.ToImmutable(), materialChanges, ChosenAt);
    }

    private static SubjectRecord Subject(
        SubjectStatus status = SubjectStatus.Active,
        ConsentChoice? cart = null,
        ConsentChoice? analytics = null,
        ConsentChoice? recommendation = null,
        ConsentChoice? advertising = null,
        ConsentChoice? affiliateSharing = null)
    {
        var consents = ImmutableDictionary.CreateBuilder<Purpose, ConsentChoice>();
        AddIfPresent(Purpose.Cart, cart);
        AddIfPresent(Purpose.Analytics, analytics);
        AddIfPresent(Purpose.Recommendation, recommendation);
        AddIfPresent(Purpose.Advertising, advertising);
        AddIfPresent(Purpose.AffiliateSharing, affiliateSharing);
        return new SubjectRecord { Status = status, Consents = consents.ToImmutable() };

        void AddIfPresent(Purpose purpose, ConsentChoice? choice)
        {
            if (choice is not null)
            {
                consents[purpose] = choice;
            }
        }
    }

    private static ConsentChoice Grant(int version = 5, bool dnt = false, bool gpc = false) =>
        new(Granted: true, version, ChosenAt, ConsentSource.Banner, dnt, gpc);

    private static ConsentChoice Withdrawal(int version = 5, bool dnt = false, bool gpc = false) =>
        new(Granted: false, version, ChosenAt, ConsentSource.Banner, dnt, gpc);

    private sealed record Row(
        string Name,
        Purpose Purpose,
        StorePolicy? Policy,
        SubjectRecord Subject,
        RequestSignals Signals,
        bool Allowed,
        DecisionReason Reason);
}
