import numpy as np, torch, sys, math, json, time, os
torch.manual_seed(0); np.random.seed(0)
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv)>2 else 1)
EW=[1,1,1,0.5,1,1,1,1]; NW=[0,0,0,0.5,0,0,0,0]; B=[0,0,-0.6382,-1.2329,-1.5545,-1.3346,0,0]
ESC=[0.2734,0.1842,0.0649,0.4983,0.045,0.2333,0.5,0.0532]
def logit(p): p=np.clip(p,1e-6,1-1e-6); return np.log(p/(1-p))
def load(files):
    R=[]
    for f in files:
        for l in open(f):
            r=l.rstrip('\n').split('\t'); R.append(r)
    src=np.array([r[0] for r in R]); part=np.array([r[1] for r in R]); ben=np.array([int(r[2]) for r in R])
    text=np.array([int(r[3]) for r in R]); esc=np.array([int(r[5]) for r in R])
    fin=np.array([[float(x) for x in r[6].split(',')] for r in R]); g=np.array([[float(x) for x in r[7].split(',')] for r in R])
    ng=np.array([[float(x) for x in r[8].split(',')] for r in R]); ids=[[int(x) for x in r[9].split(',')] if r[9] else [] for r in R]
    return dict(src=src,part=part,ben=ben,text=text,esc=esc,fin=fin,g=g,ng=ng,ids=ids)
def margin(glog, ng):  # per-category margin of the gate mix over its escalation level
    return np.array(EW)*glog + np.array(NW)*logit(ng) + np.array(B) - logit(np.array(ESC))
def pad(ids, L=64):
    X=np.zeros((len(ids),L),dtype=np.int64); M=np.zeros((len(ids),L),dtype=np.float32)
    for i,s in enumerate(ids): s=s[:L]; X[i,:len(s)]=s; M[i,:len(s)]=1
    return torch.tensor(X), torch.tensor(M)
class Bag(torch.nn.Module):
    def __init__(s, V=30522, D=int(sys.argv[3]) if len(sys.argv)>3 else 64, H=int(os.environ.get('H','128'))):
        super().__init__(); s.pool=os.environ.get('POOL','mean'); s.init=os.environ.get('INIT','rand')
        s.emb=torch.nn.Embedding(V,D)
        if s.init=='minilm':
            # a frozen projection of MiniLM's word embeddings, plus a trained correction that starts at zero
            w=torch.tensor(np.load('wemb.npy')); s.register_buffer('base', w); s.proj=torch.nn.Linear(384,D,bias=False)
            torch.nn.init.zeros_(s.emb.weight)
        else:
            torch.nn.init.normal_(s.emb.weight, std=0.1)
        k=2 if s.pool=='meanmax' else 1
        s.l1=torch.nn.Linear(D*k,H); s.l2=torch.nn.Linear(H,8)
    def vec(s,x):
        e=s.emb(x)
        if s.init=='minilm': e=e+s.proj(s.base[x])
        return e
    def forward(s, x, m):
        e=s.vec(x)*m.unsqueeze(-1); v=e.sum(1)/m.sum(1,keepdim=True).clamp(min=1)
        if s.pool=='meanmax':
            mx=(e+(m.unsqueeze(-1)-1)*1e4).max(1).values; v=torch.cat([v,mx],1)
        return s.l2(torch.relu(s.l1(v)))
if __name__=='__main__':
    tr=load(['train0.tsv','train1.tsv']); ev=load(['eval.tsv'])
    print('train windows',len(tr['ids']),'eval',len(ev['ids']))
    Xt,Mt=pad(tr['ids']); import os
    TGT=os.environ.get('TGT','gate'); Yt=torch.tensor(logit(tr['g']) if TGT=='gate' else logit(tr['fin']),dtype=torch.float32)
    W=torch.ones(len(Yt)); W[torch.sigmoid(Yt).max(1).values>=0.3]=float(os.environ.get('POSW','1'))
    Et=torch.tensor(tr['esc'],dtype=torch.float32)
    net=Bag(); opt=torch.optim.Adam(net.parameters(), lr=float(sys.argv[4]) if len(sys.argv)>4 else 3e-3)
    n=len(Xt); bs=256; steps=int(sys.argv[1]); t0=time.time()
    for step in range(steps):
        idx=torch.randint(0,n,(bs,)); out=net(Xt[idx],Mt[idx])
        # distil the gate's probabilities (soft targets) per category
        loss=(torch.nn.functional.binary_cross_entropy_with_logits(out, torch.sigmoid(Yt[idx]),reduction='none').mean(1)*W[idx]).mean()
        opt.zero_grad(); loss.backward(); opt.step()
        if step%1000==0: print(step, float(loss), f'{time.time()-t0:.0f}s', flush=True)
    torch.save(net.state_dict(),os.environ.get('OUT','pg.pt'))
    with torch.no_grad():
        Xe,Me=pad(ev['ids']); pe=net(Xe,Me).numpy()
    pm=margin(pe, ev['ng']).max(1) if TGT=='gate' else pe.max(1)      # pre-gate's predicted max margin
    gm=margin(logit(ev['g']), ev['ng']).max(1)
    flag=ev['fin'].max(1)>=0.5; escd=ev['esc']==1; ben=ev['ben']==1
    longb=(ev['src']=='awesome_chatgpt_prompts')&ben
    print('eval: flagged windows',flag.sum(),'escalated',escd.sum(),'benign',ben.sum(),'long benign',longb.sum())
    print('gate escalation rate: benign %.3f long-benign %.3f'%(escd[ben].mean(), escd[longb].mean()))
    for name,target in [('flagged',flag),('escalated&harmful',escd&~ben)]:
        s=np.sort(pm[target])
        for q in [0,0.002,0.005,0.01]:
            t=s[int(q*len(s))]
            print(f'keep {1-q:.3f} of {name}: t={t:.2f}  benign skipped {(pm[ben]<t).mean():.3f}  long-benign skipped {(pm[longb]<t).mean():.3f}  of gate-passed benign skipped {(pm[ben&~escd]<t).mean():.3f}')
    # per held-out source recall at the flagged 99.5% threshold
    s=np.sort(pm[flag]); t=s[int(0.005*len(s))]
    for sname in sorted(set(ev['src'][flag&(ev['part']=='heldout-source')])):
        m=flag&(ev['src']==sname); print(f'  {sname}: flagged windows {m.sum()} kept {(pm[m]>=t).mean():.3f}')
