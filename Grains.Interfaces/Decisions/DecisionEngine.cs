namespace ShopAstro.Grains.Interfaces;

/// <summary>
/// The one place where a decision is made: the precedence table of policy-rules.md as data, first rule
/// that applies decides. Pure: the same inputs always give the same answer. <see cref="Explain"/> walks
/// the same table and records every rule it tried (policy clause 4(4)).
/// </summary>
public static class DecisionEngine
{
    private readonly record struct Input(StorePolicy? Policy, SubjectRecord Subject, Purpose Purpose, RequestSignals Signals)
    {
        /// <summary>The latest choice for the purpose, looked up once: four rules read it.</summary>
        public ConsentChoice? Choice { get; } = Subject.Consents.GetValueOrDefault(Purpose);
    }

    /// <summary>A rule applies when <paramref name="Check"/> gives a reason; it then allows or denies.</summary>
    private sealed record Rule(int Number, string Description, bool Allowing, Func<Input, DecisionReason?> Check);

    private static Rule Denies(int number, string description, Func<Input, DecisionReason?> check) => new(number, description, false, check);

    private static Rule Allows(int number, string description, Func<Input, DecisionReason?> check) => new(number, description, true, check);

    private static readonly Rule[] Rules =
    [
        Allows(1, "the purpose is necessary", i => i.Purpose == Purpose.Necessary ? DecisionReason.Necessary : null),
        Denies(2, "the store has published no policy", i => i.Policy is null ? DecisionReason.StoreUnknown : null),
        Denies(3, "the store is suspended", i => i.Policy!.Status == StoreStatus.Suspended ? DecisionReason.StoreSuspended : null),
        Denies(4, "the subject cancelled its account", i => i.Subject.Status == SubjectStatus.Cancelled ? DecisionReason.AccountCancelled : null),
        Denies(5, "the subject is a minor", i => i.Subject.Status == SubjectStatus.Minor ? DecisionReason.Minor : null),
        Allows(6, "the purpose is the cart, which performs the contract", i => i.Purpose == Purpose.Cart ? DecisionReason.Contract : null),
        Denies(7, "the store does not use the purpose", i => i.Policy!.Uses(i.Purpose) ? null : DecisionReason.PurposeDisabled),
        // Specific beats general: a signal overrides a grant that was not given under that same signal.
        Denies(8, "a DNT or GPC signal the grant was not given under", i => i.Choice is { Granted: true } grant
            ? i.Signals.Gpc && !grant.Gpc ? DecisionReason.GlobalPrivacyControl
            : i.Signals.Dnt && !grant.Dnt ? DecisionReason.DoNotTrack
            : null
            : null),
        Denies(9, "the grant predates a material change of the purpose", i => i.Choice is { Granted: true } grant
            && grant.PolicyVersion < i.Policy!.MaterialChangeVersionOf(i.Purpose) ? DecisionReason.ReconsentRequired : null),
        Allows(10, "the latest choice is a grant", i => i.Choice is { Granted: true } ? DecisionReason.Granted : null),
        Denies(11, "the latest choice is a withdrawal", i => i.Choice is { Granted: false } ? DecisionReason.Withdrawn : null),
        Denies(12, "no choice is recorded", _ => DecisionReason.NoConsent),
    ];

    public static Decision Decide(StorePolicy? policy, SubjectRecord subject, Purpose purpose, RequestSignals signals)
    {
        var input = new Input(policy, subject, purpose, signals);
        foreach (var rule in Rules)
        {
            if (Apply(rule, input) is { } decision)
            {
                return decision;
            }
        }

        throw new InvalidOperationException("Rule 12 always applies.");
    }

    /// <summary>The decision with every rule tried on the way, in precedence order.</summary>
    public static ExplainedDecision Explain(StorePolicy? policy, SubjectRecord subject, Purpose purpose, RequestSignals signals)
    {
        var input = new Input(policy, subject, purpose, signals);
        var trace = new List<RuleStep>(Rules.Length);
        foreach (var rule in Rules)
        {
            var decision = Apply(rule, input);
            trace.Add(new RuleStep(rule.Number, rule.Description, decision is not null));
            if (decision is { } decided)
            {
                return new ExplainedDecision(decided, [.. trace]);
            }
        }

        throw new InvalidOperationException("Rule 12 always applies.");
    }

    private static Decision? Apply(Rule rule, Input input) =>
        rule.Check(input) is { } reason ? new Decision(input.Purpose, rule.Allowing, reason) : null;
}
