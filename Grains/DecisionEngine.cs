using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains;

/// <summary>
/// The one place where a decision is made: the precedence table of policy-rules.md, first rule that
/// applies decides. Pure: the same inputs always give the same answer.
/// </summary>
public static class DecisionEngine
{
    public static Decision Decide(StorePolicy? policy, SubjectRecord subject, Purpose purpose, RequestSignals signals)
    {
        // 1. Necessary processing needs no consent and survives everything below.
        if (purpose == Purpose.Necessary)
        {
            return Allow(purpose, DecisionReason.Necessary);
        }

        // 2-3. Nothing is processed for a store that published no policy or is suspended.
        if (policy is null)
        {
            return Deny(purpose, DecisionReason.StoreUnknown);
        }

        if (policy.Status == StoreStatus.Suspended)
        {
            return Deny(purpose, DecisionReason.StoreSuspended);
        }

        // 4-5. §4(3) cancellation is irreversible; §6 minors are not processed beyond necessity.
        if (subject.Status == SubjectStatus.Cancelled)
        {
            return Deny(purpose, DecisionReason.AccountCancelled);
        }

        if (subject.Status == SubjectStatus.Minor)
        {
            return Deny(purpose, DecisionReason.Minor);
        }

        // 6. The cart performs the contract the shopper asked for.
        if (purpose == Purpose.Cart)
        {
            return Allow(purpose, DecisionReason.Contract);
        }

        // 7.
        if (!policy.Uses(purpose))
        {
            return Deny(purpose, DecisionReason.PurposeDisabled);
        }

        // 11-12. Rules 8 and 9 only ever override a grant.
        if (!subject.Consents.TryGetValue(purpose, out var choice))
        {
            return Deny(purpose, DecisionReason.NoConsent);
        }

        if (!choice.Granted)
        {
            return Deny(purpose, DecisionReason.Withdrawn);
        }

        // 8. Specific beats general: a signal overrides a grant that was not given under that same signal.
        if (signals.Gpc && !choice.Gpc)
        {
            return Deny(purpose, DecisionReason.GlobalPrivacyControl);
        }

        if (signals.Dnt && !choice.Dnt)
        {
            return Deny(purpose, DecisionReason.DoNotTrack);
        }

        // 9. A grant given before the purpose's meaning changed materially no longer covers it.
        if (choice.PolicyVersion < policy.MaterialChangeVersionOf(purpose))
        {
            return Deny(purpose, DecisionReason.ReconsentRequired);
        }

        // 10.
        return Allow(purpose, DecisionReason.Granted);
    }

    private static Decision Allow(Purpose purpose, DecisionReason reason) => new(purpose, true, reason);

    private static Decision Deny(Purpose purpose, DecisionReason reason) => new(purpose, false, reason);
}
