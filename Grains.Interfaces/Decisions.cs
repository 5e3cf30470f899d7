namespace ShopAstro.Grains.Interfaces;

/// <summary>Reason codes of the contract. Numeric values cross the wire: never renumber.</summary>
[GenerateSerializer]
public enum DecisionReason
{
    Necessary = 0,
    Contract = 1,
    Granted = 2,
    Withdrawn = 3,
    NoConsent = 4,
    ReconsentRequired = 5,
    DoNotTrack = 6,
    GlobalPrivacyControl = 7,
    PurposeDisabled = 8,
    StoreUnknown = 9,
    StoreSuspended = 10,
    AccountCancelled = 11,
    Minor = 12,
}

public static class DecisionReasons
{
    public static string ToCode(this DecisionReason reason) => reason switch
    {
        DecisionReason.Necessary => "necessary",
        DecisionReason.Contract => "contract",
        DecisionReason.Granted => "granted",
        DecisionReason.Withdrawn => "withdrawn",
        DecisionReason.NoConsent => "no_consent",
        DecisionReason.ReconsentRequired => "reconsent_required",
        DecisionReason.DoNotTrack => "do_not_track",
        DecisionReason.GlobalPrivacyControl => "global_privacy_control",
        DecisionReason.PurposeDisabled => "purpose_disabled",
        DecisionReason.StoreUnknown => "store_unknown",
        DecisionReason.StoreSuspended => "store_suspended",
        DecisionReason.AccountCancelled => "account_cancelled",
        DecisionReason.Minor => "minor",
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, null),
    };
}

/// <summary>Browser privacy signals of one request: <c>DNT: 1</c> and <c>Sec-GPC: 1</c>.</summary>
[GenerateSerializer, Immutable, Alias("shopastro.RequestSignals")]
public readonly record struct RequestSignals([property: Id(0)] bool Dnt, [property: Id(1)] bool Gpc)
{
    public static RequestSignals None => default;
}

[GenerateSerializer, Immutable, Alias("shopastro.Decision")]
public readonly record struct Decision(
    [property: Id(0)] Purpose Purpose,
    [property: Id(1)] bool Allowed,
    [property: Id(2)] DecisionReason Reason);

/// <summary>The decisions for one subject, in the order the purposes were asked for.</summary>
[GenerateSerializer, Immutable, Alias("shopastro.DecisionSet")]
public sealed record DecisionSet(
    [property: Id(0)] int? PolicyVersion,
    [property: Id(1)] Decision[] Decisions);

/// <summary>One rule of the precedence table as it was tried for a decision.</summary>
[GenerateSerializer, Immutable, Alias("shopastro.RuleStep")]
public sealed record RuleStep(
    [property: Id(0)] int Rule,
    [property: Id(1)] string Description,
    [property: Id(2)] bool Applied);

/// <summary>A decision with its rule trace: every rule tried, the last one decided.</summary>
[GenerateSerializer, Immutable, Alias("shopastro.ExplainedDecision")]
public sealed record ExplainedDecision(
    [property: Id(0)] Decision Decision,
    [property: Id(1)] RuleStep[] Trace);

[GenerateSerializer, Immutable, Alias("shopastro.ExplainedSet")]
public sealed record ExplainedSet(
    [property: Id(0)] int? PolicyVersion,
    [property: Id(1)] ExplainedDecision[] Decisions);
