// Promises that settle once a condition on a session's state holds: each waiter's check runs
// now and again at every wake() (a state change), resolving with the check's value or rejecting
// with what it throws. Used by the single- and multi-gateway sessions' waitUntil… helpers.
export class ConditionWaiters {
  private readonly waiters = new Set<() => void>();

  /** Resolves with the first value of `check` that is not `false`; rejects if it throws. */
  waitFor<T>(check: () => T | false): Promise<T> {
    return new Promise((resolve, reject) => {
      const evaluate = () => {
        try {
          const value = check();
          if (value === false) return;
          this.waiters.delete(evaluate);
          resolve(value);
        } catch (err) {
          this.waiters.delete(evaluate);
          reject(err);
        }
      };
      this.waiters.add(evaluate);
      evaluate();
    });
  }

  /** Runs every waiting check again. */
  wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
